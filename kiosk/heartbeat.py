"""The kiosk's fleet-health report to the central service (``POST /v1/heartbeat``).

So an operator sees a stuck kiosk before a shopper does: the central service lists
every kiosk's last report (``GET /v1/kiosks``) and flags the ones gone quiet.

A report holds the software version, the queue's depth and the age of its oldest
undelivered enrollment, the printer's and the card reader's status codes, the
time of the last delivery, whether the staff PIN is locked now after too many
wrong tries and how often it locked since start (``kiosk/staff.py``), and the queue's
storage: ``ok``, ``storage_full`` (new applications refused before the PIN) or what
keeps the queue from opening (``data_missing``..., ``kiosk/storage.py``), and the clock:
``ok`` or why it is known wrong (``clock_before_valid_date``, ``kiosk/clock_check.py``).
Never personal data: counts, ages, times and short status codes only (a status that
is not a plain code is sent as ``unknown``). The kiosk id is not in the body: the
central service takes it from the client certificate.

Sending never blocks the caller and never raises: the post runs on its own worker
thread, a report is dropped when the previous one is still in flight (a central
service that hangs does not pile up work), and failures are logged once, when they
start, by error kind. In the kiosk the controller's health rounds (``kiosk/health.py``)
collect and send it; on a bare Kivy clock (the Kivy main thread)::

    heartbeat = Heartbeat.over_mtls(url, ca, cert, key)
    screens.clock.start_heartbeat(heartbeat, lambda: collect_health(
        outbox.status(), printer="ok", reader="ok"))
    ...
    heartbeat.close()   # App.on_stop
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import requests

from contract.errors import KioskError
from contract.wire import (
    HEARTBEAT_PATH,
    MAX_FAILURE_KINDS,
    MAX_HEARTBEAT_COUNT,
    MAX_STAFF_LOCKOUTS,
    OUT_OF_SERVICE,
    STATUS_CODE_PATTERN,
)
from offline_queue import policy
from offline_queue.store import QueueStatus
from offline_queue.transport import mtls_session, transport_error_kind

log = logging.getLogger("kiosk.heartbeat")

#: How often the kiosk reports; the central service calls a kiosk stale after minutes.
INTERVAL_S = 60.0
CONNECT_TIMEOUT_S = 3.0
READ_TIMEOUT_S = 5.0
UNKNOWN = "unknown"
STORAGE_OK, STORAGE_FULL = "ok", "storage_full"
_STATUS_CODE = re.compile(STATUS_CODE_PATTERN)


@dataclass(frozen=True)
class Health:
    """One heartbeat, field for field the central service's ``Heartbeat`` body."""

    kiosk_version: str
    queue_depth: int
    oldest_pending_age_s: float | None
    printer: str
    reader: str
    last_sync: str | None
    staff_locked: bool = False
    staff_lockouts: int = 0
    speech: str = "off"  # ok, off, no_engine, no_voice (kiosk/voice.py)
    #: per procedure (issue 11): name -> items open in the queue ("mynapoint": the application)
    procedures: dict[str, int] = field(default_factory=dict)
    # the outbox's dead items and the sync worker's totals (wire.HEARTBEAT_COUNTERS)
    dead_items: int = 0
    sync_accepted: int = 0
    sync_rejected: int = 0
    sync_failures: int = 0
    #: failed sync requests and unsettled items by error kind (policy.ERROR_*)
    sync_failures_by_kind: dict[str, int] = field(default_factory=dict)
    storage: str = STORAGE_OK  # STORAGE_FULL, or why no queue opened (kiosk/storage.py)
    clock: str = "ok"  # or why the clock is known wrong (kiosk/clock_check.py)

    def body(self) -> dict[str, Any]:
        return asdict(self)


def status_code(value: object) -> str:
    """A device status as a short code (``ok``, ``out_of_paper``...); anything else is unknown.

    A driver's free-text message could hold anything; only a plain code leaves the kiosk.
    """
    text = getattr(value, "kind", value)  # a KioskError reports its kind
    if isinstance(text, str) and _STATUS_CODE.fullmatch(text):
        return text
    return UNKNOWN


def storage_problem(error: object) -> str:
    """Why the queue did not answer, by name: a storage problem (``data_missing``...,
    kiosk/storage.py), else the error's kind (``queue_unavailable``)."""
    return getattr(error, "problem", None) or getattr(error, "kind", None) or "queue_unavailable"


def kiosk_version() -> str:
    try:
        return metadata.version("mynapoint-kiosk")
    except metadata.PackageNotFoundError:
        return UNKNOWN


def _utc_text(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    moment = dt.datetime.fromtimestamp(epoch, dt.UTC).replace(microsecond=0)
    return moment.isoformat().replace("+00:00", "Z")


def collect_health(
    queue: QueueStatus | None,
    *,
    printer: object,
    reader: object,
    version: str | None = None,
    staff_gate: Any = None,
    speech: object = "off",
    queue_problem: object = None,
    clock: object = "ok",
) -> Health:
    """The report for the queue's status, the devices' status codes and the staff PIN's
    lockout (``staff_gate``, a ``kiosk.staff.StaffGate``, when there is one).

    ``queue`` is None when the queue could not answer: ``queue_problem`` then says why
    (a storage problem's code, or the error), and the queue's figures are zero."""
    if queue is None:
        storage = status_code(storage_problem(queue_problem) if queue_problem else "")
        queue = QueueStatus({}, None, None, None)
    else:
        storage = STORAGE_FULL if queue.full else STORAGE_OK
    depth = sum(queue.counts.get(state, 0) for state in policy.OPEN_STATES)
    age = queue.oldest_pending_age_s
    return Health(
        kiosk_version=version or kiosk_version(),
        queue_depth=depth,
        oldest_pending_age_s=None if age is None else round(age, 1),
        printer=status_code(printer),
        reader=status_code(reader),
        last_sync=_utc_text(queue.last_success_at),
        staff_locked=bool(staff_gate is not None and staff_gate.locked),
        staff_lockouts=0 if staff_gate is None else min(staff_gate.lockouts, MAX_STAFF_LOCKOUTS),
        speech=status_code(speech),
        procedures={
            (name or "mynapoint"): sum(counts.get(s, 0) for s in policy.OPEN_STATES)
            for name, counts in getattr(queue, "counts_by_procedure", {}).items()
        },
        dead_items=int(queue.counts.get(policy.DEAD, 0)),
        sync_accepted=_count(queue.delivered.get(policy.ACCEPTED, 0)),
        sync_rejected=_count(queue.delivered.get(policy.REJECTED, 0)),
        sync_failures=_count(sum(queue.sync_failures.values())),
        sync_failures_by_kind={
            kind: _count(n)
            for kind, n in sorted(queue.sync_failures.items())[:MAX_FAILURE_KINDS]
            if _STATUS_CODE.fullmatch(kind)
        },
        storage=storage,
        clock=status_code(clock),
    )


def _count(value: int) -> int:
    """A counter as the central service takes it: 0..MAX_HEARTBEAT_COUNT."""
    return max(0, min(int(value), MAX_HEARTBEAT_COUNT))


class Heartbeat:
    """Posts health reports on a worker thread; ``send`` returns at once."""

    def __init__(
        self,
        base_url: str,
        session: Any,
        *,
        connect_timeout_s: float = CONNECT_TIMEOUT_S,
        read_timeout_s: float = READ_TIMEOUT_S,
    ) -> None:
        self.url = base_url.rstrip("/") + HEARTBEAT_PATH
        self.timeout = (connect_timeout_s, read_timeout_s)
        self._session = session
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="heartbeat")
        self._in_flight: Future[bool] | None = None
        self._lock = threading.Lock()
        #: When the central service last took a report, and why the last one failed.
        self.last_ok_at: float | None = None
        self.last_error_kind: str | None = None
        #: The central answer's OUT_OF_SERVICE: an operator took this kiosk out of service.
        self.out_of_service = False

    @classmethod
    def over_mtls(
        cls,
        base_url: str,
        ca_path: str | Path,
        client_cert: str | Path,
        client_key: str | Path,
        **kwargs: Any,
    ) -> Heartbeat:
        return cls(base_url, mtls_session(ca_path, client_cert, client_key), **kwargs)

    def send(self, health: Health) -> Future[bool] | None:
        """Queue one report; None when the previous one is still on its way (this is dropped)."""
        with self._lock:
            if self._in_flight is not None and not self._in_flight.done():
                return None
            try:
                self._in_flight = self._executor.submit(self._post, health.body())
            except RuntimeError:  # closed
                return None
            return self._in_flight

    def _post(self, body: dict[str, Any]) -> bool:
        try:
            response = self._session.post(self.url, json=body, timeout=self.timeout)
        except requests.RequestException as error:
            return self._failed(transport_error_kind(error))
        if response.status_code >= 400:
            kind = policy.ERROR_TLS if response.status_code in (401, 403) else policy.ERROR_SERVER
            return self._failed(kind)
        try:
            answer = response.json()
        except ValueError:
            answer = {}
        out = isinstance(answer, dict) and answer.get(OUT_OF_SERVICE) is True
        if out != self.out_of_service:
            log.info("out_of_service %s", out)
            self.out_of_service = out
        if self.last_error_kind is not None:
            log.info("heartbeat_restored")
        self.last_ok_at, self.last_error_kind = time.time(), None
        return True

    def _failed(self, kind: str) -> bool:
        if kind != self.last_error_kind:
            log.warning("heartbeat_failed kind=%s", kind)
        self.last_error_kind = kind
        return False

    def close(self) -> None:
        """Stop: a report still on its way finishes in the background, none start."""
        self._executor.shutdown(wait=False, cancel_futures=True)
        self._session.close()


def send_collected(heartbeat: Heartbeat, collect: Callable[[], Health]) -> Future[bool] | None:
    """Collect a report and send it; a failure to collect is logged, never raised."""
    try:
        health = collect()
    except (KioskError, OSError, sqlite3.Error) as error:
        log.warning("heartbeat_not_collected kind=%s", getattr(error, "kind", type(error).__name__))
        return None
    return heartbeat.send(health)
