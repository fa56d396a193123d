"""The sync worker (``mynapoint-sync``): delivers the outbox to the central service.

Its own process, sharing the queue database with the kiosk (a UI crash does not
stop sync, a sync crash does not stop the UI). It sends due rows in batches over
mutual TLS with a pinned CA, records one answer per enrollment id, backs off
exponentially with full jitter (honouring ``Retry-After``) and sleeps on a wake
socket so the kiosk can have an online enrollment answered within about a second.

    $ mynapoint-sync --db /var/lib/mynapoint/queue.sqlite3 \\
        --central-url https://central.example:8443 --ca /etc/mynapoint/central-ca.pem \\
        --cert /etc/mynapoint/kiosk.pem --key /etc/mynapoint/kiosk.key.pem

In-process (tests, tools): ``SyncWorker(db_path, CentralClient(...)).run_once()``.
"""

from __future__ import annotations

import argparse
import dataclasses
import errno
import json
import logging
import os
import signal
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import urllib3

from contract.wire import BATCH_PATH, batch_body
from offline_queue import policy
from offline_queue.delivery import DeliveryLedger, OutboundItem
from offline_queue.errors import QueueError
from offline_queue.policy import Backoff
from offline_queue.transport import mtls_context, urllib3_error_kind
from offline_queue.wake import WakeListener, send_wake

log = logging.getLogger("mynapoint.sync")


# -- talking to the central service ----------------------------------------------------


@dataclass(frozen=True)
class Answered:
    """The central service answered the batch: one result per enrollment id."""

    results: dict[str, dict[str, Any]]


@dataclass(frozen=True)
class NoAnswer:
    """Nothing usable came back (network, TLS, 5xx, busy): resend later, all of it."""

    error_kind: str
    retry_after_s: float | None = None


@dataclass(frozen=True)
class RequestRefused:
    """The central service refused the request itself (4xx): something in it is wrong."""

    error_kind: str = policy.ERROR_CLIENT


BatchOutcome = Answered | NoAnswer | RequestRefused


class CentralClient:
    """HTTPS with mutual TLS to the central service; the CA is pinned, never unverified.

    One kept-alive TLS connection (a urllib3 pool of one), reused for every batch: a pass
    that sends a hundred batches does one handshake. urllib3 rather than a requests
    session, which the other kiosk clients use: requests spent about as much CPU
    preparing and merging each request as the worker spends on everything else per item
    (``bench/bench_queue.py``). The body is encoded once, compactly.
    """

    def __init__(
        self,
        base_url: str,
        ca_path: str | Path,
        client_cert: str | Path,
        client_key: str | Path,
        *,
        connect_timeout_s: float = policy.CONNECT_TIMEOUT_S,
        read_timeout_s: float = policy.READ_TIMEOUT_S,
    ) -> None:
        url = urllib3.util.parse_url(base_url.rstrip("/"))
        if url.scheme != "https" or not url.host:
            raise ValueError(f"central URL must be https://host[:port]: {base_url!r}")
        if not Path(ca_path).is_file():
            raise FileNotFoundError(f"pinned CA file {ca_path} does not exist")
        self.base_url = base_url.rstrip("/")
        self.timeout = urllib3.Timeout(connect=connect_timeout_s, read=read_timeout_s)
        self._host, self._port = url.host, url.port or 443
        self._batch_url = (url.path or "") + BATCH_PATH
        self._tls = (ca_path, client_cert, client_key)
        self._pool: urllib3.HTTPSConnectionPool | None = None

    @property
    def connections_opened(self) -> int:
        """TLS connections made so far (1 while keep-alive holds; the benchmark checks)."""
        return 0 if self._pool is None else self._pool.num_connections

    def post_batch(self, items: list[OutboundItem]) -> BatchOutcome:
        try:
            pool = self._pool or self._open_pool()
        except (OSError, ssl.SSLError):  # e.g. the client certificate file is missing
            log.exception("sync_transport_setup_failed")
            return NoAnswer(policy.ERROR_TLS)
        body = json.dumps(
            batch_body([item.wire() for item in items]), separators=(",", ":"), allow_nan=False
        ).encode()
        try:
            response = pool.urlopen(
                "POST",
                self._batch_url,
                body=body,
                headers=_JSON_HEADERS,
                retries=False,
                redirect=False,
                timeout=self.timeout,
            )
        except (urllib3.exceptions.HTTPError, OSError) as error:
            return NoAnswer(urllib3_error_kind(error))
        return _outcome_of(response.status, response.headers.get("Retry-After"), response.data)

    def _open_pool(self) -> urllib3.HTTPSConnectionPool:
        self._pool = urllib3.HTTPSConnectionPool(
            self._host,
            self._port,
            ssl_context=mtls_context(*self._tls),
            maxsize=1,
            block=False,
            retries=False,
        )
        return self._pool

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()


_JSON_HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}


def _outcome_of(status: int, retry_after_header: str | None, data: bytes) -> BatchOutcome:
    if status == 200:
        return _answered(data)
    if policy.is_content_refusal(status):
        return RequestRefused()
    retry_after = policy.parse_retry_after(retry_after_header)
    return NoAnswer(policy.error_kind_of_status(status), retry_after)


def _answered(data: bytes) -> BatchOutcome:
    try:
        results = json.loads(data)["results"]
        by_id = {str(r["enrollment_id"]): r for r in results if isinstance(r, dict)}
    except (ValueError, KeyError, TypeError):
        return NoAnswer(policy.ERROR_BAD_ANSWER)
    return Answered(by_id)


# -- the worker --------------------------------------------------------------------------


@dataclass
class SyncReport:
    """What one pass did (for logs and tests)."""

    sent: int = 0
    batches: int = 0  # requests posted
    answered: int = 0
    failed_batches: int = 0
    error_kinds: list[str] = field(default_factory=list)


class SyncWorker:
    """Claims due rows, posts them, records the answers; ``run_forever`` for the process."""

    def __init__(
        self,
        db_path: str | Path,
        client: CentralClient,
        *,
        batch_size: int = policy.BATCH_SIZE,
        backoff: Backoff | None = None,
        max_permanent_failures: int = policy.MAX_PERMANENT_FAILURES,
        idle_poll_s: float = policy.IDLE_POLL_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.db_path = Path(db_path)
        self.client = client
        self.batch_size = batch_size
        self.backoff = backoff or Backoff()
        self.idle_poll_s = idle_poll_s
        self.clock = clock  # tests pass one they can move forward instead of sleeping
        self.ledger = DeliveryLedger(
            db_path,
            backoff=self.backoff,
            max_permanent_failures=max_permanent_failures,
            clock=clock,
        )
        self._failures_in_a_row = 0
        self._quiet_until = 0.0
        self._retention_at = float("-inf")  # the first pass applies it
        self._stop = threading.Event()

    def run_once(self) -> SyncReport:
        """Send everything that is due now, batch after batch, until done or the road is shut."""
        report = SyncReport()
        started = self.clock()
        if not self._retention_at <= started < self._retention_at + policy.RETENTION_EVERY_S:
            self.ledger.apply_retention(started)
            self._retention_at = started
        not_before = self.ledger.not_before()
        if not_before is not None and not_before > started:
            return report
        while not self._stop.is_set():
            items = self.ledger.claim_due(self.batch_size, due_by=started)
            if not items:
                break
            if not self._deliver(items, report):
                break
        return report

    def _deliver(self, items: list[OutboundItem], report: SyncReport) -> bool:
        """Post one batch and record what came back; False when the central is unreachable."""
        report.sent += len(items)
        report.batches += 1
        outcome = self.client.post_batch(items)
        if isinstance(outcome, Answered):
            self.ledger.record_results(items, outcome.results)
            report.answered += sum(1 for i in items if i.enrollment_id in outcome.results)
            self._failures_in_a_row = 0
            self._quiet_until = 0.0
            return True
        report.failed_batches += 1
        report.error_kinds.append(outcome.error_kind)
        if isinstance(outcome, RequestRefused):
            return self._refused(items, outcome, report)
        self.ledger.record_transport_failure(items, outcome.error_kind, outcome.retry_after_s)
        self._failures_in_a_row += 1
        pause = self.backoff.delay(self._failures_in_a_row, outcome.retry_after_s)
        self._quiet_until = self.clock() + pause
        log.warning("sync_batch_failed kind=%s items=%d", outcome.error_kind, len(items))
        return False

    def _refused(
        self, items: list[OutboundItem], outcome: RequestRefused, report: SyncReport
    ) -> bool:
        """A refused batch is split so one bad item never blocks the others behind it."""
        if len(items) == 1:
            self.ledger.record_request_refused(items, outcome.error_kind)
            log.warning("sync_item_refused receipt=%s", items[0].receipt_no)
            return True
        self.ledger.count_failed_request(outcome.error_kind)
        for index, item in enumerate(items):
            if not self._deliver([item], report):
                rest = items[index + 1 :]
                if rest:
                    self.ledger.record_transport_failure(
                        rest, report.error_kinds[-1], counted=False
                    )
                return False
        return True

    def seconds_until_due(self) -> float:
        """How long the worker may sleep before something needs sending (capped)."""
        now = self.clock()
        wake_at = now + self.idle_poll_s
        next_due = self.ledger.next_due_at()
        if next_due is not None:
            wake_at = min(wake_at, next_due)
        not_before = self.ledger.not_before()
        if not_before is not None:
            wake_at = max(wake_at, min(not_before, now + self.idle_poll_s))
        wake_at = max(wake_at, min(self._quiet_until, now + self.idle_poll_s))
        return max(0.0, wake_at - now)

    def run_forever(self, listener: WakeListener | None = None) -> None:
        """Loop until ``stop()``; a wake datagram cuts any wait short."""
        with listener or WakeListener(self.db_path) as listener:
            _sd_notify("READY=1")
            while not self._stop.is_set():
                try:
                    self.run_once()
                except QueueError as error:  # e.g. disk full while recording: resent later
                    log.error("sync_pass_failed kind=%s", error.kind)
                    self._quiet_until = self.clock() + self.backoff.delay(3)
                _sd_notify("WATCHDOG=1")
                if not self._stop.is_set():
                    listener.wait(self.seconds_until_due())

    def stop(self) -> None:
        self._stop.set()
        send_wake(self.db_path)

    def close(self) -> None:
        self.ledger.close()
        self.client.close()


def _sd_notify(message: str) -> None:
    """Tell systemd (Type=notify, WatchdogSec) we are ready / alive; no-op elsewhere."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return
    if address.startswith("@"):
        address = "\0" + address[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        try:
            sock.sendto(message.encode(), address)
        except OSError:
            pass


# -- the command ---------------------------------------------------------------------------


def command_line(
    db: str | Path,
    central_url: str,
    ca: str | Path,
    cert: str | Path,
    key: str | Path,
    **options: float | int,
) -> list[str]:
    """The arguments of ``mynapoint-sync`` for these settings, as :func:`_parser` reads them
    (``read_timeout=5`` becomes ``--read-timeout 5``)::

        >>> command_line("q.db", "https://c", "ca.pem", "k.pem", "k.key", read_timeout=5)[-2:]
        ['--read-timeout', '5']
    """
    args = ["--db", str(db), "--central-url", central_url]
    args += ["--ca", str(ca), "--cert", str(cert), "--key", str(key)]
    for name, value in options.items():
        args += ["--" + name.replace("_", "-"), str(value)]
    return args


def _parser() -> argparse.ArgumentParser:
    env = os.environ.get
    p = argparse.ArgumentParser(prog="mynapoint-sync", description=__doc__.splitlines()[0])
    p.add_argument("--db", type=Path, default=env("MYNAPOINT_QUEUE_DB"), required=False)
    p.add_argument("--central-url", default=env("MYNAPOINT_CENTRAL_URL"))
    p.add_argument("--ca", type=Path, default=env("MYNAPOINT_CENTRAL_CA"), help="pinned CA PEM")
    p.add_argument("--cert", type=Path, default=env("MYNAPOINT_CLIENT_CERT"))
    p.add_argument("--key", type=Path, default=env("MYNAPOINT_CLIENT_KEY"))
    p.add_argument("--batch-size", type=int, default=policy.BATCH_SIZE)
    p.add_argument("--connect-timeout", type=float, default=policy.CONNECT_TIMEOUT_S)
    p.add_argument("--read-timeout", type=float, default=policy.READ_TIMEOUT_S)
    p.add_argument("--backoff-base", type=float, default=policy.BACKOFF_BASE_S)
    p.add_argument("--backoff-cap", type=float, default=policy.BACKOFF_CAP_S)
    p.add_argument("--idle-poll", type=float, default=policy.IDLE_POLL_S)
    p.add_argument("--max-permanent-failures", type=int, default=policy.MAX_PERMANENT_FAILURES)
    p.add_argument("--once", action="store_true", help="one pass, then exit")
    p.add_argument("--status", action="store_true", help="print the queue status as JSON and exit")
    p.add_argument("--log-level", default="INFO")
    return p


def print_status(db: Path) -> int:
    """For staff over SSH: counts by state, oldest open age, last success and error."""
    ledger = DeliveryLedger(db)
    try:
        print(json.dumps(dataclasses.asdict(ledger.status()), sort_keys=True))
    finally:
        ledger.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.status and args.db:
        return print_status(args.db)
    missing = [n for n in ("db", "central_url", "ca", "cert", "key") if not getattr(args, n)]
    if missing:
        _parser().error("missing " + ", ".join("--" + m.replace("_", "-") for m in missing))
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(name)s %(message)s")
    worker = SyncWorker(
        args.db,
        CentralClient(
            args.central_url,
            args.ca,
            args.cert,
            args.key,
            connect_timeout_s=args.connect_timeout,
            read_timeout_s=args.read_timeout,
        ),
        batch_size=args.batch_size,
        backoff=Backoff(args.backoff_base, args.backoff_cap),
        max_permanent_failures=args.max_permanent_failures,
        idle_poll_s=args.idle_poll,
    )
    try:
        if args.once:
            report = worker.run_once()
            log.info("sync_pass sent=%d answered=%d", report.sent, report.answered)
            return 0 if not report.failed_batches else 1
        try:
            listener = WakeListener(args.db)
        except OSError as error:
            if error.errno != errno.EADDRINUSE:
                raise
            log.error("sync_already_running: another worker owns this queue's wake socket")
            return 2
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: worker.stop())
        worker.run_forever(listener)
        return 0
    finally:
        worker.close()


if __name__ == "__main__":
    raise SystemExit(main())
