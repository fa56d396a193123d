"""Runs the flow's effects on the devices and reports the results back as flow events.

The flow (``kiosk/flow.py``) decides; the controller does. Each effect runs on the
worker thread of the part it needs, never on the caller's (UI) thread:

=============  ===========================================================================
``card``       ReadCertificate, ReadTriesLeft, SignDigest (the CardService's own worker does
               the APDUs; this one waits for them, checks the certificate, reads the tries)
``queue``      VerifySignature (with ``drivers.certs``), Enqueue (durable before anything is
               told), Submit (wake the sync worker, wait briefly for its answer)
``printer``    PrintReceipt (after the enqueue; its failure keeps the receipt on screen)
``central``    FetchStatusChallenge, QueryStatus (mutual TLS, pinned CA), the health probe
=============  ===========================================================================

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
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import requests
from cryptography import x509

from contract import wire
from contract.errors import KioskError
from contract.units import JST
from drivers import certs
from drivers.card import PinBlocked, wipe
from kiosk import flow
from kiosk.receipt import ReceiptData, layout
from offline_queue import policy

log = logging.getLogger("mynapoint.controller")

CARD_PLACED, CARD_REMOVED = "card_placed", "card_removed"  # CardService events
NETWORK_KIND = "network_unavailable"
STATUS_EXPIRED_KIND = "status_challenge_expired"


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
    def status(self) -> Any: ...
    def close(self) -> None: ...


class OutboxPart(Protocol):
    def enqueue(
        self, payload: dict, certificate_der: bytes, signature: bytes, key: bytes
    ) -> Any: ...
    def wait_for_answer(self, enrollment_id: str, timeout_s: float = ...) -> Any: ...
    def mark_shown(self, enrollment_id: str) -> None: ...
    def wake_sync(self) -> bool: ...
    def already_enrolled_here(self, issuer_serial_key: bytes) -> bool: ...
    def status(self) -> Any: ...
    def close(self) -> None: ...


class CentralLink:
    """The kiosk's own HTTPS client for what cannot wait for the sync worker (status, health).

    Mutual TLS with the pinned CA; the environment's proxies and CA bundle are ignored.
    """

    def __init__(
        self,
        base_url: str,
        ca_cert: str | Path,
        client_cert: str | Path,
        client_key: str | Path,
        timeout: float = 5.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._session = requests.Session()
        self._session.verify = str(ca_cert)
        self._session.cert = (str(client_cert), str(client_key))
        self._session.trust_env = False

    def healthy(self) -> bool:
        try:
            return self._session.get(self.base_url + wire.HEALTH_PATH, timeout=self.timeout).ok
        except requests.RequestException:
            return False

    def get_json(self, path: str) -> Any:
        """GET a path of the central service (the catalog refresh); raises CentralUnreachable."""
        try:
            response = self._session.get(self.base_url + path, timeout=self.timeout)
            response.raise_for_status()
            return response.json()
        except (requests.RequestException, ValueError) as error:
            raise CentralUnreachable(type(error).__name__) from None

    def status_challenge(self) -> str:
        answer = self._post(wire.STATUS_CHALLENGE_PATH, {})
        return str(answer["nonce"])

    def person_status(self, nonce: str, certificate_der: bytes, signature: bytes) -> dict:
        body = {
            "nonce": nonce,
            "certificate": wire.b64e(certificate_der),
            "signature": wire.b64e(signature),
        }
        return self._post(wire.STATUS_PATH, body)

    def _post(self, path: str, body: dict) -> dict:
        try:
            response = self._session.post(self.base_url + path, json=body, timeout=self.timeout)
        except requests.RequestException as error:
            raise CentralUnreachable(type(error).__name__) from None
        if response.status_code == 409:
            raise StatusChallengeExpired("status challenge unknown, used or expired")
        if response.status_code == 403:
            raise CentralRefused(_reason_of(response))
        if not response.ok:
            raise CentralUnreachable(f"HTTP {response.status_code}")
        try:
            return response.json()
        except ValueError:
            raise CentralUnreachable("answer is not JSON") from None

    def close(self) -> None:
        self._session.close()


def _reason_of(response: requests.Response) -> str:
    try:
        reason = response.json()["detail"]["reason"]
    except (ValueError, KeyError, TypeError):
        return "malformed"
    return reason if reason in wire.REJECTION_REASONS else "malformed"


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


# --- receipts -------------------------------------------------------------------------
@dataclass(frozen=True)
class ReceiptSettings:
    store_name: str
    status_url: str  # with {receipt_no}


def receipt_data(
    facts: flow.ReceiptFacts, settings: ReceiptSettings, catalog: Any, lang: str | None = None
) -> ReceiptData:
    """The printer's (and the on-screen receipt's) data for what the flow recorded."""
    lang = lang or facts.lang
    try:
        service_name = catalog.service(facts.service_code).name(lang)
    except KeyError:
        service_name = facts.service_code
    campaign = next((c for c in catalog.campaigns if c.id == facts.campaign_id), None)
    rule: Mapping[str, Any] | str = facts.campaign_id
    if campaign is not None:
        rule = (
            {"flat_points": campaign.flat_points}
            if campaign.flat_points
            else {"rate_percent": campaign.rate_percent, "cap_points": campaign.cap_points}
        )
    return ReceiptData(
        receipt_no=facts.receipt_no,
        issued_at=_issued_at(facts.created_at),
        kiosk_id=facts.kiosk_id,
        store_name=settings.store_name,
        campaign_rule=rule,
        service_name=service_name,
        service_user_id=facts.masked_user_id,
        state=facts.result,
        status_url=settings.status_url.format(receipt_no=facts.receipt_no),
        lang=lang,
        mykey_id=facts.mykey_id,
        legal_representative=facts.legal_representative,
    )


def _issued_at(created_at: str) -> dt.datetime:
    try:
        return dt.datetime.fromisoformat(created_at.replace("Z", "+00:00"))
    except ValueError:
        return dt.datetime.now(dt.UTC)


# --- the flow's context from the configuration -----------------------------------------------
def context_for(config: Any, catalog: Any) -> Callable[[], flow.FlowContext]:
    """A FlowContext factory for ``flow.Flow``: this kiosk's settings, the clock, today in Japan.

    >>> engine = UiSession(context_for(config, catalog), controller)  # doctest: +SKIP
    """

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
    ) -> None:
        self.catalog = catalog
        self.printer = printer
        self.central = central
        self.trusted_cas = trusted_cas
        self.receipt_settings = receipt_settings
        self.submit_wait_seconds = submit_wait_seconds
        self.card_timeout = card_timeout
        self.print_timeout = print_timeout
        self.health_interval = health_interval
        self.catalog_refresh_interval = catalog_refresh_interval
        self._catalog_refreshed_at: float | None = None
        self.heartbeat = heartbeat  # kiosk.heartbeat.Heartbeat: fleet health to central
        self.heartbeat_interval = heartbeat_interval
        self._heartbeat_sent_at: float | None = None
        self.now = now
        self._post: Post = _drop
        self._workers = {
            name: ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"kiosk-{name}")
            for name in ("card", "queue", "printer", "central")
        }
        self._outbox: OutboxPart | None = None
        self._outbox_ready = self._workers["queue"].submit(self._open_outbox, open_outbox)
        self.card = make_card(self.on_card_event)
        self._stopping = threading.Event()
        self._online: bool | None = None
        self._prober: threading.Thread | None = None

    @classmethod
    def from_config(cls, config: Any, catalog: Any) -> Controller:
        """Every part built from the kiosk's configuration (``kiosk.config.KioskConfig``)."""
        from drivers.printer import ReceiptPrinter
        from drivers.reader import CardService
        from kiosk import heartbeat
        from offline_queue.store import Outbox

        sealing_keys = [wire.SealingKey.from_pem(pem) for pem in config.read_sealing_keys()]
        guard_secret = config.read_guard_secret()

        def open_outbox() -> Outbox:
            config.queue.db_path.parent.mkdir(parents=True, exist_ok=True)
            return Outbox(config.queue.db_path, sealing_keys, config.kiosk_id, guard_secret)

        return cls(
            catalog=catalog,
            make_card=lambda on_event: CardService(
                config.card.reader_pattern, on_event, config.card.transceive_timeout
            ),
            printer=ReceiptPrinter(
                config.printer.port,
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
        self.card.start()
        if (self.central is not None or self.heartbeat is not None) and self._prober is None:
            self._prober = threading.Thread(
                target=self._probe_loop, name="kiosk-health", daemon=True
            )
            self._prober.start()

    def stop(self) -> None:
        """Stop reporting and close every part (jobs already queued finish first)."""
        self._stopping.set()
        self._post = _drop
        self.card.stop()
        for worker in self._workers.values():
            worker.shutdown(wait=True, cancel_futures=True)
        if self._prober is not None:
            self._prober.join(timeout=5)
            self._prober = None
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
        """Run one effect on its part's worker; its answer is posted as a flow event."""
        route = _ROUTES.get(type(effect))
        if route is None:
            log.debug("effect_ignored %s", type(effect).__name__)
            return None
        worker, method = route
        try:
            return self._workers[worker].submit(self._run, method, effect)
        except RuntimeError:  # stopped: the kiosk is shutting down, nobody waits for it
            log.info("effect_after_stop %s", type(effect).__name__)
            if isinstance(effect, flow.SignDigest):
                wipe(effect.pin)
            return None

    def _run(self, method: Callable[[Controller, Any], Any], effect: Any) -> None:
        session_id = getattr(effect, "session_id", "")
        try:
            answer = method(self, effect)
        except KioskError as error:
            log.info("effect_failed effect=%s kind=%s", type(effect).__name__, error.kind)
            answer = flow.Failed.of(error)
        except FutureTimeout:
            from drivers.card import CardTimeout
            from drivers.printer import PrinterTimeout

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
    def _read_certificate(self, effect: flow.ReadCertificate) -> Any:
        der = self.card.read_certificate().result(self.card_timeout)
        certs.check_certificate(der, self.trusted_cas, self.now())
        if not effect.for_status:
            self._workers["queue"].submit(self._refuse_enrolled_here, der).result()
        return flow.CertificateRead(der, self._tries_left())

    def _refuse_enrolled_here(self, certificate_der: bytes) -> None:
        """Tell a card that already applied here before the person types anything."""
        from offline_queue.errors import AlreadyEnrolledHere
        from offline_queue.store import issuer_serial_key_of

        if self._ready_outbox().already_enrolled_here(issuer_serial_key_of(certificate_der)):
            raise AlreadyEnrolledHere("this card has an open or accepted enrollment here")

    def _tries_left(self) -> int:
        try:
            return self.card.pin_tries_left().result(self.card_timeout)
        except PinBlocked:
            return 0

    def _read_tries_left(self, effect: flow.ReadTriesLeft) -> Any:
        return flow.TriesLeftRead(self._tries_left())

    def _sign(self, effect: flow.SignDigest) -> Any:
        future = self.card.sign(effect.pin, effect.digest)
        try:
            return flow.Signed(future.result(self.card_timeout))
        finally:
            # Wiped again once the card is done with it; while the card job still runs
            # (a timeout here), its own cleanup wipes it: zeroing it under a running
            # VERIFY could send a wrong PIN and cost the person a try.
            if future.done():
                wipe(effect.pin)

    # queue
    def _verify(self, effect: flow.VerifySignature) -> Any:
        certificate = certs.parse_certificate(effect.certificate_der)
        certs.verify_card_signature(certificate, effect.digest, effect.signature)
        return flow.SignatureVerified()

    def _enqueue(self, effect: flow.Enqueue) -> Any:
        from offline_queue.store import issuer_serial_key_of

        outbox = self._ready_outbox()
        key = issuer_serial_key_of(effect.certificate_der)
        queued = outbox.enqueue(effect.payload, effect.certificate_der, effect.signature, key)
        log.info("enrollment_enqueued receipt_no=%s", queued.receipt_no)
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
                wire.ACCEPTED, mykey_id=row.mykey_id, service_code=row.service_code
            )
        return flow.Submitted(wire.REJECTED, reason=row.reason, service_code=row.service_code)

    # printer
    def _print(self, effect: flow.PrintReceipt) -> Any:
        data = receipt_data(effect.receipt, self.receipt_settings, self.catalog)
        self.printer.print_receipt(layout(data)).result(self.print_timeout)
        log.info("receipt_printed receipt_no=%s", effect.receipt.receipt_no)
        return flow.Printed()

    # central
    def _status_challenge(self, effect: flow.FetchStatusChallenge) -> Any:
        return flow.StatusChallenge(self._central().status_challenge())

    def _query_status(self, effect: flow.QueryStatus) -> Any:
        answer = self._central().person_status(
            effect.nonce, effect.certificate_der, effect.signature
        )
        applications = answer.get("applications") or []
        latest = applications[-1] if applications else {}
        return flow.StatusAnswered(
            applied=bool(applications),
            service_code=latest.get("service_code"),
            mykey_id=answer.get("mykey_id"),
            campaign_id=latest.get("campaign_id"),
            pending_here=not applications and self._pending_here(effect.certificate_der),
        )

    def _pending_here(self, certificate_der: bytes) -> bool:
        """An application made here offline is not at central yet: say so, not "none"."""
        from offline_queue.store import issuer_serial_key_of

        key = issuer_serial_key_of(certificate_der)
        check = self._workers["queue"].submit(
            lambda: self._ready_outbox().already_enrolled_here(key)
        )
        return bool(check.result())

    def _central(self) -> CentralLink:
        if self.central is None:
            raise CentralUnreachable("no central service configured")
        return self.central

    # --- the network badge ---------------------------------------------------------------
    def _probe_loop(self) -> None:
        """Reachability (the online badge), the catalog refresh and the fleet heartbeat."""
        while not self._stopping.is_set():
            try:
                if self.central is not None:
                    self._probe_central()
                if self.heartbeat is not None and self._due(
                    self._heartbeat_sent_at, self.heartbeat_interval
                ):
                    self._heartbeat_sent_at = time.monotonic()
                    from kiosk.heartbeat import send_collected

                    send_collected(self.heartbeat, self._health)
            except RuntimeError:  # the workers are shutting down
                return
            self._stopping.wait(self.health_interval)

    def _probe_central(self) -> None:
        online = self._workers["central"].submit(self.central.healthy).result()
        if online != self._online:
            self._online = online
            log.info("central_reachable %s", online)
            self._post(flow.NetworkChanged(online))
        if online and self._due(self._catalog_refreshed_at, self.catalog_refresh_interval):
            self._workers["central"].submit(self.refresh_catalog)

    @staticmethod
    def _due(last: float | None, interval: float) -> bool:
        return last is None or time.monotonic() - last >= interval

    def _health(self) -> Any:
        """The heartbeat's report: queue depth and age, device status codes; nobody's data."""
        from kiosk.heartbeat import collect_health

        status = self._workers["queue"].submit(lambda: self._ready_outbox().status()).result(5)
        problem = self._workers["printer"].submit(self.printer.status).result(5).problem
        reader = "ok" if self.card.reader_available else "no_reader"
        return collect_health(status, printer=problem or "ok", reader=reader)

    def refresh_catalog(self) -> bool:
        """Take services and campaigns from the central service; keep ours on any error."""
        self._catalog_refreshed_at = time.monotonic()
        refreshed = self.central is not None and self.catalog.refresh(self.central.get_json)
        log.info("catalog_refreshed %s", refreshed)
        return refreshed

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
        facts = flow.ReceiptFacts(
            receipt_no="TEST-0000",
            enrollment_id="test",
            kiosk_id="test",
            campaign_id="",
            service_code="",
            masked_user_id="****0000",
            result=flow.RESULT_PENDING,
            mykey_id=None,
            legal_representative=False,
            created_at=wire.utc_now_text(),
        )
        data = receipt_data(facts, self.receipt_settings, self.catalog)
        return self._workers["printer"].submit(
            lambda: self.printer.print_receipt(layout(data)).result(self.print_timeout)
        )

    def staff_status(self) -> dict[str, Any]:
        """Queue counts and age, reader and printer state: nothing of any person."""
        queue = self._workers["queue"].submit(lambda: self._ready_outbox().status())
        printer = self._workers["printer"].submit(self.printer.status)
        info: dict[str, Any] = {
            "reader_available": bool(self.card.reader_available),
            "card_present": bool(self.card.card_present),
            "online": self._online,
        }
        try:
            status = queue.result(5)
            info.update(
                queue_counts=dict(status.counts),
                oldest_pending_age_s=status.oldest_pending_age_s,
                last_sync_error=status.last_error_kind,
            )
        except Exception as error:  # the staff screen shows what it can
            info["queue_error"] = getattr(error, "kind", type(error).__name__)
        try:
            problem = printer.result(5).problem
            info["printer_problem"] = problem.kind if problem else None
        except Exception as error:
            info["printer_problem"] = getattr(error, "kind", type(error).__name__)
        return info

    # --- internals -------------------------------------------------------------------------
    def _open_outbox(self, open_outbox: Callable[[], OutboxPart]) -> None:
        self._outbox = open_outbox()

    def _ready_outbox(self) -> OutboxPart:
        self._outbox_ready.result()  # re-raises why it could not be opened (a QueueError)
        assert self._outbox is not None
        return self._outbox


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
