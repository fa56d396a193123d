"""Prometheus metrics of the central service (``prometheus_client``).

Served as ``GET /metrics`` on the operator listener only (``central/console/web.py``):
kiosks cannot reach it (their listener answers 403, and a kiosk certificate is refused
on the operator listener). Each app has its own registry, so two apps in one process
(tests) do not share counts.

- ``mynapoint_decisions_total{result,reason}``: answers given by this process;
- ``mynapoint_ingest_seconds{path}``: latency of an ingest request (batch or item);
- ``mynapoint_ingest_cpu_seconds_total{stage}``: CPU time of ingest by stage (parse, hpke,
  checks, rules, db, answer, encode; ``central.service.STAGES``; counted with
  ``stage_cpu = true`` only), ``mynapoint_store_races_total``;
- per kiosk, read from the database at scrape time (so every worker reports the fleet
  the same): ``mynapoint_kiosk_heartbeat_age_seconds``, ``mynapoint_kiosk_queue_depth``,
  ``mynapoint_kiosk_oldest_pending_seconds``, ``mynapoint_kiosk_dead_items``,
  ``mynapoint_kiosk_out_of_service``, and the sync worker's counters (its totals since its
  queue was created, so ``rate()`` and ``increase()`` apply):
  ``mynapoint_kiosk_sync_{accepted,rejected,failures}_total`` and
  ``mynapoint_kiosk_sync_failures_by_kind_total{kind}`` (``central_unreachable``,
  ``central_timeout``, ``central_busy``, ``central_refused_request``...).

Counters of decisions and latency are per process: with several workers, scrape each
(or set up ``prometheus_client``'s multiprocess mode); the kiosk gauges are fleet-wide.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# (heartbeat field, metric name, help)
_KIOSK_GAUGES = (
    ("queue_depth", "queue_depth", "Enrollments waiting in the kiosk's outbox"),
    ("oldest_pending_age_s", "oldest_pending_seconds", "Age of the oldest waiting enrollment"),
    ("dead_items", "dead_items", "Outbox items that failed for good (staff must look)"),
)
_KIOSK_COUNTERS = (
    ("sync_accepted", "sync_accepted", "Answers the sync worker recorded: accepted"),
    ("sync_rejected", "sync_rejected", "Answers the sync worker recorded: rejected"),
    ("sync_failures", "sync_failures", "Failed sync requests and unsettled items"),
)


class _FleetCollector:
    def __init__(
        self,
        kiosks: Callable[[], list[tuple[str, float, dict[str, Any]]]],
        out_of_service: Callable[[], set[str]],
        clock: Callable[[], float],
    ) -> None:
        self._kiosks, self._out, self._clock = kiosks, out_of_service, clock

    def collect(self) -> Iterator[GaugeMetricFamily]:
        rows = self._kiosks()
        now = self._clock()
        age = GaugeMetricFamily(
            "mynapoint_kiosk_heartbeat_age_seconds",
            "Seconds since the kiosk's last heartbeat",
            labels=["kiosk"],
        )
        for kiosk_id, last_seen, _health in rows:
            age.add_metric([kiosk_id], max(0.0, now - last_seen))
        yield age
        for field, name, help_text in _KIOSK_GAUGES:
            family = GaugeMetricFamily(f"mynapoint_kiosk_{name}", help_text, labels=["kiosk"])
            for kiosk_id, _seen, health in rows:
                value = health.get(field)
                if isinstance(value, int | float):
                    family.add_metric([kiosk_id], float(value))
            yield family
        for field, name, help_text in _KIOSK_COUNTERS:
            counter = CounterMetricFamily(f"mynapoint_kiosk_{name}", help_text, labels=["kiosk"])
            for kiosk_id, _seen, health in rows:
                value = health.get(field)
                if isinstance(value, int):
                    counter.add_metric([kiosk_id], float(value))
            yield counter
        by_kind = CounterMetricFamily(
            "mynapoint_kiosk_sync_failures_by_kind",
            "Failed sync requests and unsettled items, by error kind",
            labels=["kiosk", "kind"],
        )
        for kiosk_id, _seen, health in rows:
            kinds = health.get("sync_failures_by_kind")
            for kind, n in sorted(kinds.items()) if isinstance(kinds, dict) else ():
                if isinstance(n, int):
                    by_kind.add_metric([kiosk_id, str(kind)], float(n))
        yield by_kind
        out = self._out()
        family = GaugeMetricFamily(
            "mynapoint_kiosk_out_of_service",
            "1 when an admin marked the kiosk out of service",
            labels=["kiosk"],
        )
        for kiosk_id, _seen, _health in rows:
            family.add_metric([kiosk_id], 1.0 if kiosk_id in out else 0.0)
        yield family


class _StageCollector:
    def __init__(self, seconds: Callable[[], dict[str, float]], races: Callable[[], int]) -> None:
        self._seconds, self._races = seconds, races

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = CounterMetricFamily(
            "mynapoint_ingest_cpu_seconds",
            "CPU seconds this process spent on ingest, by stage",
            labels=["stage"],
        )
        for stage, seconds in self._seconds().items():
            family.add_metric([stage], seconds)
        yield family
        races = CounterMetricFamily(
            "mynapoint_store_races",
            "Writes that found their enrollment id answered already (a resend in the same"
            " batch, or another process first) and gave that answer",
        )
        races.add_metric([], float(self._races()))
        yield races


class CentralMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.decisions = Counter(
            "mynapoint_decisions",
            "Answers to enrollments by result and reason",
            ["result", "reason"],
            registry=self.registry,
        )
        self.ingest_seconds = Histogram(
            "mynapoint_ingest_seconds",
            "Time to answer one ingest request",
            ["path"],
            registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )

    def watch_fleet(self, kiosks: Callable, out_of_service: Callable, clock: Callable) -> None:
        self.registry.register(_FleetCollector(kiosks, out_of_service, clock))

    def watch_stages(
        self, seconds: Callable[[], dict[str, float]], races: Callable[[], int]
    ) -> None:
        """``mynapoint_ingest_cpu_seconds_total{stage}``: where this process's ingest CPU
        goes (``central.service.STAGES``); the process's own total, less their sum, is
        HTTP, TLS and the framework."""
        self.registry.register(_StageCollector(seconds, races))

    @contextmanager
    def timed(self, path: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.ingest_seconds.labels(path).observe(time.perf_counter() - start)

    def decided(self, results: list[dict[str, Any]]) -> None:
        for result in results:
            self.decisions.labels(result.get("status", "-"), result.get("reason", "-")).inc()

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
