"""Runs the flow's effects on the devices and reports the results back as flow events.

The flow (``kiosk/flow.py``) decides; the controller does. Each effect starts on the
worker of the part it needs, never on the caller's (UI) thread, and no thread waits
on another's result: a device's future is followed with a callback
(``kiosk/futures.py``), with a deadline on the controller's timer thread.

=============  ===========================================================================
``card``       ReadCertificate, ReadTriesLeft, SignDigest (the CardService's own worker does
               the APDUs; the steps after each answer check the certificate, read the tries)
``queue``      VerifySignature (with ``drivers.certs``), Enqueue (durable before anything is
               told), Submit (wake the sync worker, wait briefly for its answer)
``printer``    PrintReceipt (after the enqueue; its failure keeps the receipt on screen)
``central``    FetchStatusChallenge, QueryStatus (mutual TLS, pinned CA), the health probe
=============  ===========================================================================

The controller is split by responsibility:

* ``kiosk/controller.py``: the parts, effect dispatch, the errors a person can meet
  from the central service, the flow's context from the configuration;
* ``kiosk/central_link.py``: ``CentralLink``, the kiosk's own HTTPS client;
* ``kiosk/health.py``: ``HealthMonitor``, the online badge, the catalog refresh, the
  fleet heartbeat and the staff screen's figures;
* ``kiosk/receipt_facts.py``: ``ReceiptSettings``, ``receipt_data``: what a receipt says.

Results come back through the ``post`` callback given to :meth:`Controller.start`, on
a worker thread: the UI passes one that re-posts onto the Kivy clock. Each answer names
the session that asked (``session_id``), so the flow drops answers for a session that
has ended. Card presence arrives as ``CardPlaced`` / ``CardRemoved``, reachability of
the central service as ``NetworkChanged``.

Logs carry effect and error names only: never a PIN, an ID, a code or a certificate.

    >>> controller = Controller.from_config(config, catalog)   # doctest: +SKIP
    >>> controller.start(post=lambda event: Clock.schedule_once(lambda dt: ui(event)))
    ... # doctest: +SKIP
    >>> controller.execute(flow.ReadCertificate(session_id="..."))  # doctest: +SKIP
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import TYPE_CHECKING, Any, Protocol

from cryptography import x509

from contract import wire
from contract.errors import KioskError
from contract.units import JST
from drivers import certs
from drivers.card import PinBlocked, wipe
from kiosk import flow
from kiosk.futures import Steps, Timers, follow, settle, within
from kiosk.health import HealthMonitor
from kiosk.receipt import ReceiptData, layout
from kiosk.receipt_facts import ReceiptSettings, receipt_data, sample_facts
from offline_queue import policy
from offline_queue.errors import QueueDiskFull, QueueUnavailable

if TYPE_CHECKING:
    from kiosk.central_link import CentralLink

log = logging.getLogger("mynapoint.controller")

CARD_PLACED, CARD_REMOVED = "card_placed", "card_removed"  # CardService events
NETWORK_KIND = "network_unavailable"
STATUS_EXPIRED_KIND = "status_challenge_expired"
#: The staff screen and the heartbeat give up on the queue's or the printer's status after this.
STATUS_TIMEOUT_S = 5.0
#: A queue check inside a card or status step fails as queue_unavailable after this.
QUEUE_TIMEOUT_S = 15.0


# --- the parts, as the controller uses them -----------------------------------------------
class CardPart(Protocol):
    card_present: bool
    reader_available: bool

    def start(self) -> None: ...
    def stop(self, timeout: float = ...) -> None: ...
    def read_certificate(self) -> Future[bytes]: ...
    def pin_tries_left(self) -> Future[int]: ...
    def sign(self, pin: bytearray, digest: bytes) -> Future[bytes]: ...


class PrinterPart(Protocol):
    def print_receipt(self, receipt: Any) -> Future[Any]: ...
    def status_async(self) -> Future[Any]: ...
    def close(self) -> None: ...


class OutboxPart(Protocol):
    def enqueue(
        self, payload: dict, certificate_der: bytes, signature: bytes, key: bytes
    ) -> Any: ...
    def wait_for_answer(self, enrollment_id: str, timeout_s: float = ...) -> Any: ...
    def mark_shown(self, enrollment_id: str) -> None: ...
    def wake_sync(self) -> bool: ...
    def already_enrolled_here(self, issuer_serial_key: bytes) -> bool: ...
    def resend_server_refused(self) -> int: ...
    def status(self) -> Any: ...
    def close(self) -> None: ...


class CentralUnreachable(KioskError):
    """The central service did not answer (network, TLS, 5xx)."""

    kind = NETWORK_KIND
    retryable = True


class StatusChallengeExpired(KioskError):
    """The status challenge was used or expired before the card signed it.

    Not retryable: sending the same answer again can never work; a new status check
    (a new challenge) can, which is what its remedy tells the person.
    """

    kind = STATUS_EXPIRED_KIND


class CentralRefused(KioskError):
    """The central service refused the card (revoked, untrusted...): ``kind`` is its reason."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"central refused: {reason}")
        self.kind = reason


# --- the flow's context from the configuration -----------------------------------------------
def context_for(
    config: Any, catalog: Any, procedures: Any = None
) -> Callable[[], flow.FlowContext]:
    """A FlowContext factory for ``flow.Flow``: this kiosk's settings, the clock, today in Japan.

    ``procedures`` (a ``kiosk.procedures.Procedures``) defaults to the shipped data.

    >>> engine = UiSession(context_for(config, catalog), controller)  # doctest: +SKIP
    """
    if procedures is None:
        from kiosk import procedures as procedures_data

        procedures = procedures_data.default()

    def context() -> flow.FlowContext:
        return flow.FlowContext(
            kiosk_id=config.kiosk_id,
            catalog=catalog,
            now=time.monotonic(),
            today=dt.datetime.now(JST).date(),
            idle_seconds=config.idle_timeout_seconds,
            countdown_seconds=config.countdown_seconds,
            card_left_cue_seconds=config.card_left_cue_seconds,
            default_language=config.language,
            procedures=procedures,
            assist_time_factor=getattr(config, "assist_time_factor", 3.0),
        )

    return context


# --- the controller ---------------------------------------------------------------------
Post = Callable[[Any], None]


class Controller:
    """Owns the card service, the printer, the outbox and the central link."""

    def __init__(
        self,
        *,
        catalog: Any,
        make_card: Callable[[Callable[[str], None]], CardPart],
        printer: PrinterPart,
        open_outbox: Callable[[], OutboxPart],
        trusted_cas: list[x509.Certificate],
        receipt_settings: ReceiptSettings,
        central: CentralLink | None = None,
        submit_wait_seconds: float = 3.0,
        card_timeout: float = 20.0,
        print_timeout: float = 40.0,
        health_interval: float = 15.0,
        catalog_refresh_interval: float = 3600.0,
        heartbeat: Any = None,
        heartbeat_interval: float = 60.0,
        now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
        timers: Timers | None = None,
        procedures: Any = None,
        clock_not_before: tuple[dt.datetime, ...] = (),
    ) -> None:
        from kiosk import procedures as procedures_data

        self.catalog = catalog
        #: kiosk.procedures.Procedures: the status check asks after each signed one
        self.procedures = procedures or procedures_data.default()
        self.printer = printer
        self.central = central
        self.trusted_cas = trusted_cas
        self.receipt_settings = receipt_settings
        self.submit_wait_seconds = submit_wait_seconds
        self.card_timeout = card_timeout
        self.print_timeout = print_timeout
        self.heartbeat = heartbeat  # kiosk.heartbeat.Heartbeat: fleet health to central
        self.now = now
        #: The clock is known wrong before these (the build, the kiosk's certificate):
        #: no enrollment then (kiosk/clock_check.py).
        self.clock_not_before = clock_not_before
        #: Deadlines and the health rounds; a test may pass Timers on a clock it moves.
        self.timers = timers or Timers()
        self._post: Post = _drop
        # Each worker starts its part's effects and runs their short steps; only the
        # queue's and the central service's own calls (SQLite, HTTPS) block one, briefly.
        self._workers = {
            name: ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"kiosk-{name}")
            for name in ("card", "queue", "printer", "central")
        }
        self._outbox: OutboxPart | None = None
        self._outbox_ready = self._workers["queue"].submit(self._open_outbox, open_outbox)
        self.card = make_card(self.on_card_event)
        self._stopping = threading.Event()
        self.health = HealthMonitor(
            central=central,
            heartbeat=heartbeat,
            catalog=catalog,
            card=self.card,
            queue_status=self.queue_status,
            printer_status=self.printer_status,
            on_central=lambda call: self._workers["central"].submit(call),
            post=lambda event: self._post(event),
            timers=self.timers,
            interval=health_interval,
            catalog_refresh_interval=catalog_refresh_interval,
            heartbeat_interval=heartbeat_interval,
            clock_problem=self.clock_problem,
        )

    @classmethod
    def from_config(cls, config: Any, catalog: Any) -> Controller:
        """Every part built from the kiosk's configuration (``kiosk.config.KioskConfig``)."""
        from drivers.printer import ReceiptPrinter, open_transport
        from drivers.reader import CardService
        from kiosk import heartbeat
        from kiosk.central_link import CentralLink
        from offline_queue.store import Outbox

        sealing_keys = [wire.SealingKey.from_pem(pem) for pem in config.read_sealing_keys()]
        guard_secret = config.read_guard_secret()

        def open_outbox() -> Outbox:
            from kiosk.storage import check_data

            # Never a fresh queue where the data partition should be, nor over a
            # damaged one (kiosk/storage.py): the kiosk shows maintenance instead.
            check_data(config.queue.db_path)
            return Outbox(config.queue.db_path, sealing_keys, config.kiosk_id, guard_secret)

        return cls(
            catalog=catalog,
            make_card=lambda on_event: CardService(
                config.card.reader_pattern, on_event, config.card.transceive_timeout
            ),
            printer=ReceiptPrinter(
                open_transport(
                    config.printer.transport,
                    config.printer.address,
                    baudrate=config.printer.baudrate,
                    rtscts=config.printer.rtscts,
                ),
                config.printer.baudrate,
                config.printer.mode,
                config.printer.columns,
                rtscts=config.printer.rtscts,
            ),
            open_outbox=open_outbox,
            trusted_cas=certs.load_ca_bundle(config.card.trusted_ca_bundle.read_bytes()),
            receipt_settings=ReceiptSettings(config.store.name, config.central.status_url),
            central=CentralLink(
                config.central.base_url,
                config.central.ca_cert,
                config.central.client_cert,
                config.central.client_key,
                config.central.timeout,
            ),
            submit_wait_seconds=config.central.submit_wait_seconds,
            clock_not_before=_clock_not_before(config),
            heartbeat=heartbeat.Heartbeat.over_mtls(
                config.central.base_url,
                config.central.ca_cert,
                config.central.client_cert,
                config.central.client_key,
            ),
        )

    # --- life cycle ----------------------------------------------------------------------
    def start(self, post: Post) -> None:
        """Begin reporting: ``post(event)`` is called on worker threads."""
        self._post = post
        self._stopping.clear()
        self._outbox_ready.add_done_callback(self._storage_checked)
        self.card.start()
        self.health.start()

    def _storage_checked(self, opened: Future[None]) -> None:
        """No queue could be opened: the maintenance screen (staff see why on theirs)."""
        error = opened.exception()
        if error is None:
            return
        log.error(
            "queue_not_opened kind=%s problem=%s",
            getattr(error, "kind", "-"),
            getattr(error, "problem", "-"),
        )
        self._post(flow.OutOfService(True, storage=True))

    def stop(self) -> None:
        """Stop reporting and close every part (jobs already queued finish first)."""
        self._stopping.set()
        self._post = _drop
        self.health.stop()
        self.card.stop()
        for worker in self._workers.values():
            worker.shutdown(wait=True, cancel_futures=True)
        self.timers.stop()
        self.printer.close()
        if self._outbox is not None:
            self._outbox.close()
        if self.central is not None:
            self.central.close()
        if self.heartbeat is not None:
            self.heartbeat.close()

    # --- events in from the card -----------------------------------------------------------
    def on_card_event(self, name: str) -> None:
        """CardService presence events (its worker thread) become flow events."""
        if name == CARD_PLACED:
            self._post(flow.CardPlaced())
        elif name == CARD_REMOVED:
            self._post(flow.CardRemoved())
        else:
            log.info("reader_event %s", name)

    # --- effects out -------------------------------------------------------------------
    def execute(self, effect: Any) -> Future[Any] | None:
        """Start one effect on its part's worker; its answer is posted as a flow event.

        Returns a future that is done once the answer was posted (tests and benchmarks
        may wait on it; the kiosk never does).
        """
        route = _ROUTES.get(type(effect))
        if route is None:
            log.debug("effect_ignored %s", type(effect).__name__)
            return None
        worker, method = route
        answer: Future[Any] = Future()
        posted: Future[None] = Future()
        answer.add_done_callback(lambda done: self._answered(done, effect, posted))
        try:
            self._begin(worker, answer, method, self, effect)
        except RuntimeError:  # stopped: the kiosk is shutting down, nobody waits for it
            log.info("effect_after_stop %s", type(effect).__name__)
            if isinstance(effect, flow.SignDigest):
                wipe(effect.pin)
            return None
        return posted

    def _begin(
        self, worker: str, answer: Future[Any], steps: Callable[..., Any], *args: Any
    ) -> None:
        """Start ``steps(*args)`` on ``worker``; ``answer`` gets its outcome when it comes.

        ``steps`` may return a value, a future or steps (``kiosk.futures.follow``). The
        callbacks on ``answer`` are added before, so they run on a worker or a device's
        thread, never on the caller's.
        """

        def start() -> None:
            follow(lambda: steps(*args)).add_done_callback(lambda done: settle(answer, done))

        self._workers[worker].submit(start)

    def _answered(self, done: Future[Any], effect: Any, posted: Future[None]) -> None:
        if self._stopping.is_set():
            log.info("effect_after_stop %s", type(effect).__name__)
        else:
            self._run(lambda _controller, _effect: done.result(timeout=0), effect)
        posted.set_result(None)

    def _run(self, method: Callable[[Controller, Any], Any], effect: Any) -> None:
        session_id = getattr(effect, "session_id", "")
        try:
            answer = method(self, effect)
        except KioskError as error:
            log.info("effect_failed effect=%s kind=%s", type(effect).__name__, error.kind)
            answer = flow.Failed.of(error)
        except FutureTimeout:
            from drivers.card import CardTimeout
            from drivers.printer_status import PrinterTimeout

            late = PrinterTimeout if isinstance(effect, flow.PrintReceipt) else CardTimeout
            log.warning("effect_timed_out effect=%s", type(effect).__name__)
            answer = flow.Failed.of(late("no answer in time"))
        except Exception as error:  # a bug: tell the person, keep the kiosk alive
            log.error(
                "effect_crashed effect=%s error=%s", type(effect).__name__, type(error).__name__
            )
            answer = flow.Failed.of(KioskError("the effect crashed"))
        if answer is not None:
            if getattr(answer, "session_id", None) == "":
                answer = _with_session(answer, session_id)
            self._post(answer)

    # card
    def _read_certificate(self, effect: flow.ReadCertificate) -> Steps[Any]:
        if not effect.for_status:
            self._refuse_a_wrong_clock()
        der = yield self._card(self.card.read_certificate())
        certs.check_certificate(der, self.trusted_cas, self.now())
        if not effect.for_status:
            yield self._on_queue(self._refuse_enrolled_here, der, effect.procedure)
        return flow.CertificateRead(der, (yield from self._tries_left()))

    def clock_problem(self) -> str | None:
        """Why the clock is known to be wrong now (kiosk/clock_check.py), or None."""
        from kiosk.clock_check import clock_problem

        return clock_problem(self.now(), not_before=self.clock_not_before)

    def _refuse_a_wrong_clock(self) -> None:
        """Before the card is read, so before any PIN: no enrollment on a known-wrong clock."""
        from kiosk.clock_check import ClockWrong

        problem = self.clock_problem()
        if problem is not None:
            log.error("clock_wrong problem=%s", problem)
            raise ClockWrong(problem)

    def _refuse_enrolled_here(self, certificate_der: bytes, procedure: str = "") -> None:
        """Tell a card that already applied here before the person types anything."""
        from offline_queue.errors import AlreadyEnrolledHere

        if self._enrolled_here(certificate_der, procedure):
            raise AlreadyEnrolledHere("this card has an open or accepted enrollment here")

    def _enrolled_here(self, certificate_der: bytes, procedure: str = "") -> bool:
        return self._ready_outbox().already_enrolled_here(guard_key(certificate_der, procedure))

    def _tries_left(self) -> Steps[int]:
        try:
            return (yield self._card(self.card.pin_tries_left()))
        except PinBlocked:
            return 0

    def _read_tries_left(self, effect: flow.ReadTriesLeft) -> Steps[Any]:
        return flow.TriesLeftRead((yield from self._tries_left()))

    def _sign(self, effect: flow.SignDigest) -> Steps[Any]:
        signing = self.card.sign(effect.pin, effect.digest)
        # Wiped again once the card is done with it; while the card job still runs (past
        # the deadline), its own cleanup wipes it: zeroing it under a running VERIFY could
        # send a wrong PIN and cost the person a try.
        signing.add_done_callback(lambda _done: wipe(effect.pin))
        return flow.Signed((yield self._card(signing)))

    def _card(self, job: Future[Any]) -> Future[Any]:
        return within(job, self.card_timeout, self.timers)

    # queue
    def _verify(self, effect: flow.VerifySignature) -> Any:
        certificate = certs.parse_certificate(effect.certificate_der)
        certs.verify_card_signature(certificate, effect.digest, effect.signature)
        return flow.SignatureVerified()

    def _enqueue(self, effect: flow.Enqueue) -> Any:
        outbox = self._ready_outbox()
        key = guard_key(effect.certificate_der, str(effect.payload.get(wire.PROCEDURE_KEY) or ""))
        try:
            queued = outbox.enqueue(effect.payload, effect.certificate_der, effect.signature, key)
        except QueueDiskFull:
            self.health.note_queue_full(True)  # the next person is told before their PIN
            raise
        log.info("enrollment_enqueued receipt_no=%s", queued.receipt_no)
        self.health.note_queue_full(outbox.room_full())
        return flow.Enqueued(queued.enrollment_id, queued.receipt_no)

    def _submit(self, effect: flow.Submit) -> Any:
        outbox = self._ready_outbox()
        outbox.wake_sync()
        row = outbox.wait_for_answer(effect.enrollment_id, timeout_s=self.submit_wait_seconds)
        if row is None or row.state not in (policy.ACCEPTED, policy.REJECTED):
            return flow.SubmitDeferred()
        outbox.mark_shown(effect.enrollment_id)
        if row.state == policy.ACCEPTED:
            return flow.Submitted(
                wire.ACCEPTED, mykey_id=row.mykey_id, service_code=row.service_code,
                points=row.points, points_reason=row.points_reason,
            )
        return flow.Submitted(wire.REJECTED, reason=row.reason, service_code=row.service_code)

    def _on_queue(self, call: Callable[..., Any], *args: Any) -> Future[Any]:
        """``call(*args)`` on the queue worker, as a step: queue_unavailable past its deadline."""
        return within(
            self._workers["queue"].submit(call, *args),
            QUEUE_TIMEOUT_S,
            self.timers,
            lambda: QueueUnavailable("the queue did not answer in time"),
        )

    def queue_status(self) -> Future[Any]:
        """The outbox's status (counts, ages, last error), in at most STATUS_TIMEOUT_S."""
        status = self._workers["queue"].submit(lambda: self._ready_outbox().status())
        return within(status, STATUS_TIMEOUT_S, self.timers)

    # printer
    def _print(self, effect: flow.PrintReceipt) -> Steps[Any]:
        data = receipt_data(effect.receipt, self.receipt_settings, self.catalog)
        yield self._printed(data)
        log.info("receipt_printed receipt_no=%s", effect.receipt.receipt_no)
        return flow.Printed()

    def _printed(self, data: ReceiptData) -> Future[Any]:
        return within(self.printer.print_receipt(layout(data)), self.print_timeout, self.timers)

    def printer_status(self) -> Future[Any]:
        """The printer's status, in at most STATUS_TIMEOUT_S (it answers after its job)."""
        return within(self.printer.status_async(), STATUS_TIMEOUT_S, self.timers)

    # central
    def _status_challenge(self, effect: flow.FetchStatusChallenge) -> Any:
        return flow.StatusChallenge(self._central().status_challenge())

    def _query_status(self, effect: flow.QueryStatus) -> Steps[Any]:
        answer = self._central().person_status(
            effect.nonce, effect.certificate_der, effect.signature
        )
        applications = answer.get("applications") or []
        latest = applications[-1] if applications else {}
        pending_here = False
        if not applications:  # an application made here offline is not at central yet
            pending_here = bool((yield self._on_queue(self._enrolled_here, effect.certificate_der)))
        # Every other procedure: done at central, or waiting in this kiosk's queue.
        # ("municipal_points:<campaign>" is one campaign of the municipal procedure)
        done = {str(r.get("procedure")).split(":")[0] for r in answer.get("registrations") or []}
        states = [
            ("mynapoint", "done" if applications else "pending_here" if pending_here else "none")
        ]
        from kiosk import procedures as procedures_data

        for procedure in self.procedures.signed():
            if procedure.form != procedures_data.KIND_SIGNED_CONSENT:
                continue
            state = "done" if procedure.id in done else "none"
            if state == "none" and (
                yield self._on_queue(self._enrolled_here, effect.certificate_der, procedure.id)
            ):
                state = "pending_here"
            states.append((procedure.id, state))
        return flow.StatusAnswered(
            applied=bool(applications),
            service_code=latest.get("service_code"),
            mykey_id=answer.get("mykey_id"),
            campaign_id=latest.get("campaign_id"),
            pending_here=pending_here,
            procedures=tuple(states),
        )

    def _central(self) -> CentralLink:
        if self.central is None:
            raise CentralUnreachable("no central service configured")
        return self.central

    # --- for the screens -----------------------------------------------------------------
    def receipt_data(self, facts: flow.ReceiptFacts, lang: str | None = None) -> ReceiptData:
        """What the on-screen receipt shows when the printer failed (same as the paper's)."""
        return receipt_data(facts, self.receipt_settings, self.catalog, lang)

    def receipt_image(self, facts: flow.ReceiptFacts, lang: str | None = None) -> Any:
        """The receipt drawn as an image (with its QR code), for the receipt screen."""
        from kiosk.receipt import render_image

        return render_image(layout(self.receipt_data(facts, lang)))

    # --- for the staff screen ------------------------------------------------------------
    def test_print(self) -> Future[Any]:
        """Print a sample receipt (no personal data) from the staff screen; not a flow event."""
        data = receipt_data(sample_facts(), self.receipt_settings, self.catalog)
        printed: Future[Any] = Future()
        self._begin("printer", printed, self._printed, data)
        return printed

    def resend_server_refused(self) -> Future[int]:
        """Staff action: rows refused for a server-side reason go back to pending (how many)."""
        return self._workers["queue"].submit(lambda: self._ready_outbox().resend_server_refused())

    def staff_status(self) -> Future[dict[str, Any]]:
        """Queue counts and age, reader and printer state, as a future: nothing of any person.

        The printer answers after the receipt it is printing; nobody waits for it (the
        staff screen shows its figures when they come, see ``kiosk.health``).
        """
        return self.health.staff_status()

    # --- internals -------------------------------------------------------------------------
    def _open_outbox(self, open_outbox: Callable[[], OutboxPart]) -> None:
        self._outbox = open_outbox()

    def _ready_outbox(self) -> OutboxPart:
        # Only on the queue worker, after the open job (one worker, in order): done, so
        # this never waits; it re-raises why the outbox could not be opened (a QueueError).
        self._outbox_ready.result(timeout=0)
        assert self._outbox is not None
        return self._outbox


def guard_key(certificate_der: bytes, procedure: str = "") -> bytes:
    """The outbox's card-guard input: the card's issuer and serial, per procedure.

    The Mynapoint application keeps the bare key (queues written before procedures stay
    valid); another procedure prefixes its id, so one card may do each procedure once.
    """
    from offline_queue.store import issuer_serial_key_of

    key = issuer_serial_key_of(certificate_der)
    return key if not procedure else b"procedure:" + procedure.encode() + b"|" + key


def _clock_not_before(config: Any) -> tuple[dt.datetime, ...]:
    """The moments the clock must be past: the code's install, the kiosk certificate's start."""
    from kiosk.clock_check import CLOCK_EPOCH, file_time

    moments = [moment for moment in (file_time(CLOCK_EPOCH),) if moment is not None]
    try:
        cert = x509.load_pem_x509_certificate(config.central.client_cert.read_bytes())
        moments.append(cert.not_valid_before_utc)
    except (OSError, ValueError):
        pass  # the TLS set-up reports a missing or bad certificate itself
    return tuple(moments)


def _drop(event: Any) -> None:
    """Where answers go before start() and after stop()."""


def _with_session(answer: Any, session_id: str) -> Any:
    from dataclasses import replace

    return replace(answer, session_id=session_id)


_ROUTES: dict[type, tuple[str, Callable[[Controller, Any], Any]]] = {
    flow.ReadCertificate: ("card", Controller._read_certificate),
    flow.ReadTriesLeft: ("card", Controller._read_tries_left),
    flow.SignDigest: ("card", Controller._sign),
    flow.VerifySignature: ("queue", Controller._verify),
    flow.Enqueue: ("queue", Controller._enqueue),
    flow.Submit: ("queue", Controller._submit),
    flow.PrintReceipt: ("printer", Controller._print),
    flow.FetchStatusChallenge: ("central", Controller._status_challenge),
    flow.QueryStatus: ("central", Controller._query_status),
}
