"""The card reader as a service: one worker thread for all card I/O.

:class:`CardService` picks the reader by a configured name pattern (never "the
first one"), notices cards being placed and removed, survives the reader being
unplugged and ``pcscd`` restarting (it re-establishes its PC/SC context by
itself), and runs the JPKI operations of :mod:`drivers.card` on its one worker
thread, returning ``concurrent.futures.Future`` objects::

    service = CardService("Virtual PCD 00 00", on_event=print)
    service.start()                       # prints card_placed when a card arrives
    der = service.read_certificate().result(10)
    service.sign(bytearray(b"1234"), digest).result(10)   # the PIN buffer is wiped
    service.stop()

Presence is event-driven: a watcher thread (``card-presence``, its own PC/SC
context) blocks in ``SCardGetStatusChange`` on the matching readers and pcsc-lite's
PnP notification pseudo-reader (readers added or removed), for at most
``presence_timeout`` at a time, and wakes the worker whenever pcscd reports a
change; the worker then looks (a non-blocking ``SCardGetStatusChange`` on its own
context) and reports what changed.
Without any wake the worker still looks every ``presence_timeout``, and while it
has no context or misses the reader it looks every ``poll_interval``, so recovery
from a pcscd restart or a lost reader never depends on an event arriving.
pyscard's CardMonitor is not used: its thread dies for good when pcscd stops.
``on_event`` is called on the worker thread with ``card_placed``, ``card_removed``,
``reader_lost`` or ``reader_back``. ``reader_lost`` is debounced: it is said after
``reader_lost_after`` looks in a row failed to find the reader, while the card (whose
connection cannot survive a lost context) is reported removed at the first.

A transceive that takes longer than ``transceive_timeout`` fails its future with
:class:`~drivers.card.CardTimeout` (a watchdog does this; it does no I/O). The
worker stays blocked until the reader gives the call back, then resets the card
and carries on; nothing more is sent in the timed-out session.
"""

from __future__ import annotations

import fnmatch
import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, InvalidStateError
from dataclasses import dataclass, field
from typing import Any, TypeVar

from smartcard import scard

from drivers import card
from drivers.card import CardLink, CardRemoved, CardTimeout, ReaderUnavailable

log = logging.getLogger("mynapoint.card")
T = TypeVar("T")

CARD_PLACED, CARD_REMOVED = "card_placed", "card_removed"
READER_LOST, READER_BACK = "reader_lost", "reader_back"


def _code(name: str) -> int:
    value = getattr(scard, name, None)
    return -1 if value is None else value & 0xFFFFFFFF


_CARD_GONE = {
    _code(n)
    for n in (
        "SCARD_W_REMOVED_CARD",
        "SCARD_E_NO_SMARTCARD",
        "SCARD_W_RESET_CARD",
        "SCARD_W_UNPOWERED_CARD",
        "SCARD_W_UNRESPONSIVE_CARD",
        "SCARD_E_NOT_TRANSACTED",  # vpcd and CCID readers: the card left mid-command
    )
}
_READER_GONE = {
    _code(n)
    for n in (
        "SCARD_E_NO_SERVICE",
        "SCARD_E_SERVICE_STOPPED",
        "SCARD_E_READER_UNAVAILABLE",
        "SCARD_E_UNKNOWN_READER",
        "SCARD_E_INVALID_HANDLE",
        "SCARD_E_NO_READERS_AVAILABLE",
        "SCARD_F_COMM_ERROR",
        "SCARD_E_SHARING_VIOLATION",  # another program holds the reader
    )
}
_OK, _TIMEOUT = _code("SCARD_S_SUCCESS"), _code("SCARD_E_TIMEOUT")
_SCARD_PRESENT = 0x0004  # SCardStatus card state bit (pcsc-lite), not exported by pyscard
_READER_STATE_GONE = scard.SCARD_STATE_UNKNOWN | scard.SCARD_STATE_UNAVAILABLE


def _swapped(previous: int, now: int) -> bool:
    """pcscd counts insertions and removals in the upper 16 bits of a reader's state."""
    return previous != scard.SCARD_STATE_UNAWARE and (previous >> 16) != (now >> 16)


def _pcsc_error(hr: int, doing: str) -> card.CardError:
    """A PC/SC return code as the error a person can act on."""
    code = hr & 0xFFFFFFFF
    if code in _CARD_GONE:
        return CardRemoved(f"card left the reader while {doing} ({code:08X})")
    if code == _TIMEOUT:
        return CardTimeout(f"no answer while {doing}")
    return ReaderUnavailable(f"reader failed while {doing} ({code:08X})")


@dataclass
class _Job:
    operation: Callable[[CardLink], Any]
    future: Future = field(default_factory=Future)
    cleanup: Callable[[], None] | None = None

    def settle(self, result: Any = None, error: BaseException | None = None) -> None:
        try:
            if error is not None:
                self.future.set_exception(error)
            else:
                self.future.set_result(result)
        except InvalidStateError:
            pass  # already failed by the timeout watchdog, or cancelled

    def clean(self) -> None:
        if self.cleanup is not None:
            self.cleanup()
            self.cleanup = None


_LOOK = object()  # a job-queue item: the watcher saw pcscd report a change
_INS_VERIFY = 0x20
_transmit, _monotonic = scard.SCardTransmit, time.monotonic  # looked up once: the hot path
_wire_form = card.wire_form
_PNP_READER = "\\\\?PnP?\\Notification"  # pcsc-lite: wakes on readers added or removed


class _PcscLink:
    """One connected card: every APDU passes the allow-list, then SCardTransmit.

    This is the hot path of every card operation (the benchmark holds it to 5 % over
    raw ``SCardTransmit``): no logging, no hex formatting, one list conversion.
    """

    __slots__ = ("_service", "_hcard", "_protocol", "session")

    def __init__(
        self, service: CardService, hcard: int, protocol: int, session: card.CardSession
    ) -> None:
        self._service, self._hcard, self._protocol = service, hcard, protocol
        self.session = session

    def transmit(self, apdu: bytes | bytearray) -> bytearray:
        card.check_allowed(apdu)
        service = self._service
        if service._timed_out:
            raise CardTimeout("session abandoned after a timeout")
        command = list(apdu)
        service._transmit_since = _monotonic()
        try:
            hr, response = _transmit(self._hcard, self._protocol, command)
        finally:
            service._transmit_since = None
            if apdu[1] == _INS_VERIFY:
                command[:] = bytes(len(command))  # the PIN's copy for pyscard
        if hr or service._timed_out:
            if service._timed_out:
                raise CardTimeout("the card answered after the timeout")
            raise _pcsc_error(hr, "exchanging an APDU")
        if len(response) < 2 and self._card_left():
            raise CardRemoved("card left the reader during a command")
        return bytearray(response)  # from pyscard's list: several times faster than bytes()

    def transmit_all(self, apdus: list[bytes]) -> list[bytearray]:
        """Several APDUs back-to-back (see drivers.card's CardLink): a lean loop, no PINs.

        The driver's own commands come checked and converted already
        (``card.wire_form``); between two APDUs only the watchdog's flag and the status
        word are looked at, and the answers are converted after the last.
        """
        commands = []
        for apdu in apdus:
            command = _wire_form(apdu)
            if command is None:
                card.check_allowed(apdu)
                if apdu[1] == _INS_VERIFY and len(apdu) > 4:
                    raise ValueError("a VERIFY with a PIN goes through transmit(), which wipes it")
                command = list(apdu)
            commands.append(command)
        service, hcard, protocol = self._service, self._hcard, self._protocol
        answers = []
        hr = 0
        for command in commands:
            if service._timed_out:
                break
            service._transmit_since = _monotonic()
            try:
                hr, response = _transmit(hcard, protocol, command)
            finally:
                service._transmit_since = None
            if hr:
                break
            answers.append(response)
            if len(response) < 2 or response[-2] != 0x90 or response[-1]:
                break  # drivers.card reads this answer; nothing more goes out
        if service._timed_out:
            raise CardTimeout("session abandoned after a timeout")
        if hr:
            raise _pcsc_error(hr, "exchanging an APDU")
        if answers and len(answers[-1]) < 2 and self._card_left():
            raise CardRemoved("card left the reader during a command")
        return [bytearray(response) for response in answers]

    def _card_left(self, settle: float = 0.6) -> bool:
        """After an empty answer: did the card leave? pcscd may need a poll to notice."""
        deadline = time.monotonic() + settle
        while True:
            hr, _reader, state, _protocol, _atr = scard.SCardStatus(self._hcard)
            if hr != _OK or not state & _SCARD_PRESENT:
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)


class CardService:
    """The configured reader and whatever card is in it, driven from one worker thread."""

    #: The kiosk holds the card alone; the benchmark shares it to interleave raw APDUs.
    share_mode = scard.SCARD_SHARE_EXCLUSIVE

    def __init__(
        self,
        reader_pattern: str,
        on_event: Callable[[str], None],
        transceive_timeout: float = 5.0,
        poll_interval: float = 0.15,
        presence_timeout: float = 1.0,
        reader_lost_after: int = 3,
    ) -> None:
        self.reader_pattern = reader_pattern
        self.on_event = on_event
        self.transceive_timeout = transceive_timeout
        #: Pace of the looks while pcscd or the reader is missing.
        self.poll_interval = poll_interval
        #: Longest wait for pcscd's news (the watcher's bounded SCardGetStatusChange).
        self.presence_timeout = presence_timeout
        self.reader_lost_after = max(1, reader_lost_after)
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._watchdog: threading.Thread | None = None
        self._watcher: threading.Thread | None = None
        self._watch_ctx: int | None = None  # the watcher's own context (SCardCancel wakes it)
        # worker-owned state
        self._session: card.CardSession | None = None
        self._misses = 0  # looks in a row that did not find the reader
        self._ctx: int | None = None
        self._reader: str | None = None  # the matching reader that holds the card
        self._reader_states: dict[str, int] = {}
        self._hcard: int | None = None
        self._protocol = 0
        self._present = False
        self._available: bool | None = None
        self._current: _Job | None = None
        self._transmit_since: float | None = None
        self._timed_out = False

    # --- public API -------------------------------------------------------------------
    @property
    def card_present(self) -> bool:
        return self._present

    @property
    def reader_available(self) -> bool:
        return bool(self._available)

    @property
    def reader_known(self) -> bool:
        """Whether the service has looked for its reader yet (before: neither ok nor lost)."""
        return self._available is not None

    @property
    def reader_name(self) -> str | None:
        return self._reader

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="card-worker", daemon=True)
        self._watchdog = threading.Thread(
            target=self._watch_time, name="card-watchdog", daemon=True
        )
        self._watcher = threading.Thread(
            target=self._watch_presence, name="card-presence", daemon=True
        )
        self._thread.start()
        self._watchdog.start()
        self._watcher.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the worker; jobs not yet run fail with ReaderUnavailable, PINs wiped."""
        self._stopping.set()
        self._jobs.put(None)  # wakes the worker
        watcher, deadline = self._watcher, time.monotonic() + timeout
        while watcher is not None and watcher.is_alive() and time.monotonic() < deadline:
            # Wakes the watcher. Again and again: a cancel that comes just before the
            # watcher enters SCardGetStatusChange is lost (pcsc-lite cancels waits only).
            watch_ctx = self._watch_ctx
            if watch_ctx is not None:
                scard.SCardCancel(watch_ctx)  # result ignored
            watcher.join(0.05)
        for thread in (self._thread, self._watchdog, self._watcher):
            if thread is not None:
                thread.join(timeout)
        self._thread = self._watchdog = self._watcher = None
        self._fail_pending()

    def read_certificate(self) -> Future[bytes]:
        """DER of the user-authentication certificate."""
        return self.submit(card.read_auth_certificate)

    def pin_tries_left(self) -> Future[int]:
        """Tries left on the user-auth PIN (spends none); blocked fails with PinBlocked."""
        return self.submit(card.pin_tries_left)

    def sign(self, pin: bytearray, digest: bytes) -> Future[bytes]:
        """The card's signature of a SHA-256 digest; ``pin`` is wiped before this returns."""
        if not isinstance(pin, bytearray):
            raise TypeError("the PIN must be a bytearray, so it can be wiped")
        # The job gets its own copy and the caller's buffer is wiped now: nobody can
        # zero the PIN under a running job (a VERIFY of zeros would cost a try).
        own = bytearray(pin)
        card.wipe(pin)
        return self.submit(
            lambda link: card.sign_with_pin(link, own, digest), cleanup=lambda: card.wipe(own)
        )

    def submit(
        self, operation: Callable[[CardLink], T], cleanup: Callable[[], None] | None = None
    ) -> Future[T]:
        """Run ``operation(link)`` on the worker thread with the card connected."""
        job = _Job(operation, cleanup=cleanup)
        if self._thread is None or self._stopping.is_set():
            job.settle(error=ReaderUnavailable("the card service is not running"))
            job.clean()
            return job.future
        if self._stuck:
            job.settle(error=CardTimeout("the card is not answering; it must be taken out"))
            job.clean()
            return job.future
        self._jobs.put(job)
        return job.future

    # --- the worker thread ----------------------------------------------------------------
    def _run(self) -> None:
        next_look = 0.0
        try:
            while not self._stopping.is_set():
                if time.monotonic() >= next_look:
                    self._poll_presence_safely()
                    healthy = self._ctx is not None and self._available and not self._misses
                    pace = self.presence_timeout if healthy else self.poll_interval
                    next_look = time.monotonic() + pace
                try:
                    job = self._jobs.get(timeout=max(0.0, next_look - time.monotonic()))
                except queue.Empty:
                    continue
                if job is _LOOK:
                    next_look = 0.0  # pcscd has news: look now
                elif job is not None:
                    self._run_job(job)
        finally:
            self._disconnect()
            self._release_context()
            self._fail_pending()

    def _poll_presence_safely(self) -> None:
        """The worker must outlive anything PC/SC throws at it: start afresh instead."""
        try:
            self._poll_presence()
        except Exception:
            log.exception("card presence poll failed; starting a new PC/SC context")
            self._drop_context()

    @property
    def _stuck(self) -> bool:
        """The worker waits on a transceive that already timed out."""
        return self._timed_out and self._transmit_since is not None

    def _fail_pending(self, error: card.CardError | None = None) -> None:
        while True:
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                return
            if job is None or job is _LOOK:
                continue
            job.settle(error=error or ReaderUnavailable("the card service stopped"))
            job.clean()

    def _run_job(self, job: _Job) -> None:
        if not job.future.set_running_or_notify_cancel():
            job.clean()
            return
        self._current, self._timed_out = job, False
        try:
            link = self._connect()
            result = job.operation(link)
        except card.CardError as e:
            log.info("card operation failed: %s", e.kind)
            self._recover_after(e)
            job.settle(error=e)
        except Exception as e:  # a bug or bad argument: the caller sees it as is
            self._reset_card()
            job.settle(error=e)
        else:
            job.settle(result)
        finally:
            self._current = None
            job.clean()
            if self._timed_out:
                self._reset_card()

    def _recover_after(self, error: card.CardError) -> None:
        if isinstance(error, ReaderUnavailable):
            self._drop_context()
        elif isinstance(error, CardRemoved):
            self._disconnect()
        else:
            self._reset_card()  # drop any PIN state and half-done selection

    # --- PC/SC context, reader and card handles -----------------------------------------------
    def _ensure_context(self) -> bool:
        if self._ctx is not None:
            return True
        hr, ctx = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
        if hr != _OK:
            return False
        self._ctx = ctx
        return True

    def _release_context(self) -> None:
        ctx, self._ctx = self._ctx, None
        if ctx is not None:
            scard.SCardReleaseContext(ctx)  # result ignored: pcscd may be gone

    def _drop_context(self) -> None:
        """Forget the context: the card's connection goes with it, the reader may not."""
        self._disconnect()
        self._release_context()
        self._reader_states = {}
        self._set_present(False)  # a new context cannot tell whether it is the same card
        self._missed_look()

    def _missed_look(self) -> None:
        """A look that did not find the reader: several in a row mean it is lost."""
        self._set_present(False)
        self._misses += 1
        if self._misses >= self.reader_lost_after:
            self._set_available(False)

    def _matches(self, name: str) -> bool:
        """The configured pattern: an fnmatch pattern, or a reader's exact name.

        (Real names hold brackets, which fnmatch reads as a character class:
        ``ACS ACR1252 Dual Reader [ACR1252 Dual Reader PICC] 00 00``.)
        """
        return name == self.reader_pattern or fnmatch.fnmatchcase(name, self.reader_pattern)

    def _matching_readers(self) -> list[str]:
        """Readers whose name matches the configured pattern, in pcscd's order."""
        hr, names = scard.SCardListReaders(self._ctx, [])
        if hr != _OK:
            if hr & 0xFFFFFFFF != _code("SCARD_E_NO_READERS_AVAILABLE"):
                self._drop_context()
            return []
        return [n for n in names if self._matches(n)]

    def _connect(self) -> _PcscLink:
        if self._hcard is not None and self._session is not None:
            return _PcscLink(self, self._hcard, self._protocol, self._session)
        if not self._ensure_context():
            raise ReaderUnavailable("pcscd is not running")
        if not self._available:
            raise ReaderUnavailable("the configured reader is not attached")
        if self._reader is None:
            raise CardRemoved("no card in the reader")
        hr, hcard, protocol = scard.SCardConnect(
            self._ctx,
            self._reader,
            self.share_mode,
            scard.SCARD_PROTOCOL_T0 | scard.SCARD_PROTOCOL_T1,
        )
        if hr != _OK:
            raise _pcsc_error(hr, "connecting to the card")
        self._hcard, self._protocol = hcard, protocol
        self._session = card.CardSession()  # a fresh connection has selected nothing
        return _PcscLink(self, hcard, protocol, self._session)

    def _disconnect(self, disposition: int = scard.SCARD_LEAVE_CARD) -> None:
        hcard, self._hcard = self._hcard, None
        self._session = None
        if hcard is not None:
            scard.SCardDisconnect(hcard, disposition)  # result ignored: card may be gone

    def _reset_card(self) -> None:
        self._disconnect(scard.SCARD_RESET_CARD)

    # --- presence ----------------------------------------------------------------------------
    def _poll_presence(self) -> None:
        """Look once (without blocking) at the matching readers, and report changes."""
        if not self._ensure_context():
            self._missed_look()
            return
        names = self._matching_readers()
        if not names:
            self._missed_look()
            return
        self._misses = 0
        self._set_available(True)
        known = [(n, self._reader_states.get(n, scard.SCARD_STATE_UNAWARE)) for n in names]
        hr, states = scard.SCardGetStatusChange(self._ctx, 0, known)
        hr &= 0xFFFFFFFF
        if hr == _TIMEOUT and len(known) == len(self._reader_states):
            return  # nothing changed anywhere
        if hr not in (_OK, _TIMEOUT):
            self._drop_context()
            return
        cards: dict[str, bool] = {}
        swapped = False
        for name, event_state, _atr in states:
            previous = self._reader_states.get(name, scard.SCARD_STATE_UNAWARE)
            cards[name] = bool(event_state & scard.SCARD_STATE_PRESENT) and not (
                event_state & _READER_STATE_GONE
            )
            if name == self._reader and _swapped(previous, event_state):
                swapped = True  # removed and placed again between two looks
            self._reader_states[name] = event_state & ~scard.SCARD_STATE_CHANGED
        self._reader_states = {n: self._reader_states[n] for n in cards}
        self._follow_card(names, cards, swapped)

    def _follow_card(self, names: list[str], cards: dict[str, bool], swapped: bool) -> None:
        """Use the matching reader that holds a card (the first to get one, if several)."""
        if self._reader is not None and (swapped or not cards.get(self._reader)):
            self._set_present(False)
        if self._reader is None:
            self._reader = next((n for n in names if cards[n]), None)
            if self._reader is not None:
                self._set_present(True)

    def _set_present(self, present: bool) -> None:
        if present == self._present:
            return
        self._present = present
        if not present:
            self._disconnect()
            self._reader = None
        self._emit(CARD_PLACED if present else CARD_REMOVED)

    def _set_available(self, available: bool) -> None:
        if available == self._available:
            return
        was_known = self._available is not None
        self._available = available
        if not available:
            self._reader_states = {}
            self._set_present(False)
            self._emit(READER_LOST)
        elif was_known:
            self._emit(READER_BACK)

    def _emit(self, event: str) -> None:
        log.info("card event: %s", event)
        try:
            self.on_event(event)
        except Exception:
            log.exception("card event handler failed on %s", event)

    # --- the presence watcher: waits on pcscd, wakes the worker -------------------------------
    def _watch_presence(self) -> None:
        """Block in SCardGetStatusChange (bounded) and wake the worker on any change."""
        states: dict[str, int] = {}
        while not self._stopping.is_set():
            if self._watch_ctx is None:
                hr, ctx = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
                if hr != _OK:
                    self._stopping.wait(self.poll_interval)
                    continue
                self._watch_ctx, states = ctx, {}
            if self._stopping.is_set():
                break
            ctx = self._watch_ctx
            hr, names = scard.SCardListReaders(ctx, [])
            if hr != _OK and hr & 0xFFFFFFFF != _code("SCARD_E_NO_READERS_AVAILABLE"):
                self._watcher_lost(ctx)
                continue
            names = [n for n in names if self._matches(n)] if names else []
            if set(names) != set(states) - {_PNP_READER}:
                self._jobs.put(_LOOK)  # readers came or went: let the worker see
            wanted = [_PNP_READER, *names]
            known = [(n, states.get(n, scard.SCARD_STATE_UNAWARE)) for n in wanted]
            timeout_ms = int(self.presence_timeout * 1000)
            hr, answers = scard.SCardGetStatusChange(ctx, timeout_ms, known)
            code = hr & 0xFFFFFFFF
            if code == _TIMEOUT:
                continue
            if code != _OK:
                if self._stopping.is_set():
                    break
                self._watcher_lost(ctx)
                continue
            # Success means a state differs from what was passed in: the worker looks.
            states = {name: event & ~scard.SCARD_STATE_CHANGED for name, event, _atr in answers}
            self._jobs.put(_LOOK)
        ctx, self._watch_ctx = self._watch_ctx, None
        if ctx is not None:
            scard.SCardReleaseContext(ctx)

    def _watcher_lost(self, ctx: int) -> None:
        """pcscd went away under the watcher: tell the worker, retry at the poll pace."""
        self._watch_ctx = None
        scard.SCardReleaseContext(ctx)  # result ignored: pcscd may be gone
        self._jobs.put(_LOOK)
        self._stopping.wait(self.poll_interval)

    # --- the timeout watchdog (no I/O) ------------------------------------------------------
    def _watch_time(self) -> None:
        while not self._stopping.wait(0.05):
            since, job = self._transmit_since, self._current
            if since is None or self._timed_out:
                continue
            if time.monotonic() - since > self.transceive_timeout:
                self._timed_out = True
                log.warning("card did not answer within %.1f s", self.transceive_timeout)
                if job is not None:
                    job.settle(error=CardTimeout("the card did not answer in time"))
                    job.clean()  # safe: nothing more is sent once _timed_out is set
                self._fail_pending(CardTimeout("the card is not answering"))
