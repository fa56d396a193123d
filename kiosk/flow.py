"""One person's session at the kiosk, as a pure state machine (no I/O, no Kivy, no threads).

``step(session, event, ctx) -> (session, effects)``: an event in, the next session and a
tuple of effects out. Effects are commands the controller (``kiosk/controller.py``) runs
on the devices' worker threads; their results come back as events. ``Flow`` wraps
``step`` with the current session and a clock for the UI.

STATES (each is also the name of the screen that shows it):

=================  ====================================================================
``welcome``        language choice (日本語 / English); menu: apply (申込) or status
                   (申込状況の確認). Event ``Start(menu)``.
``notes``          notes and terms; the question "applying for a child under 15?"
                   (``SetLegalRepresentative``); ``AgreeTerms`` goes on.
``place_card``     "place your card"; the 法定代理人 question may be answered here too.
                   ``CardPlaced`` (from the reader) goes on.
``reading_card``   the certificate is being read and checked (effect ``ReadCertificate``).
``choose_service`` grid of payment services of the open campaign; app-only services are
                   refused with their message (``session.input_error``).
``enter_ids``      決済サービスID and セキュリティコード(s), checked against the service's rules;
                   a bad entry stays here with ``input_error`` / ``input_error_field``.
``confirm``        what was chosen; "the choice cannot be changed".
``pin``            4-digit PIN; ``tries_left`` shown; ``last_try`` is the strong warning.
``processing``     ``processing_phase``: signing → verifying → enqueuing → sending.
``result``         ``result``: accepted (``mykey_id``) / pending (offline) / rejected
                   (``rejection_kind`` keys the remedy in the error table).
``receipt``        printing (``receipt_printing``); when the printer fails,
                   ``receipt_on_screen`` is set and the screen shows ``receipt`` with a QR.
``take_card``      stays until the card is removed; ``card_left_behind`` is the cue.
``status``         申込状況の確認 (online only): ``status_info``.
``error``          ``error_kind`` keys message and remedy; ``error_next`` says what the
                   one button does ("retry_card", "end").
``campaign_closed`` no campaign open today; ``closed_campaign_id`` names the last one.
``menu``           the 行政サービス top menu: every procedure of ``ctx.procedures`` (data),
                   open or closed. ``Start(<procedure's start>)`` goes on.
``procedure_info`` a procedure done elsewhere (公金受取口座: on マイナポータル, with a QR
                   code; takes no data), or a closed one (why, and what to do instead).
``maintenance``    an operator took the kiosk out of service (``OutOfService``): shown
                   instead of the welcome screen, and after the current session ends.
=================  ====================================================================

Procedures (``kiosk/procedures/``): ``Start("apply")`` is the Mynapoint application and
``Start("status")`` the status check, as before. A ``signed_consent`` procedure
(健康保険証の利用申込み) walks its data's steps through the same states: notes (its
consent) → place_card → reading_card → confirm → pin → processing → result → receipt,
with ``session.procedure`` naming it; its payload comes from its module, and it is
enqueued, synced and answered exactly like an enrollment.

Every session ends hard on done, cancel, card removed or idle timeout: ``_end`` zeroes the
old session's sensitive buffers and returns a brand new ``Session`` (``take_card`` if the
card is still in the reader, else ``welcome``) carrying only ``notice`` (why it ended),
the language default and the network state.

The PIN is never a field of ``Session``: ``PinEntered.pin`` (a ``bytearray``) is handed
straight to the ``SignDigest`` effect; the controller zeroes it after the card used it,
and the flow zeroes it itself when it refuses it.

Idle: interactive states carry ``idle_deadline`` (monotonic seconds) and, in the last
``countdown_seconds``, ``countdown`` (whole seconds left) for the UI to show; ``Tick``
events (about once a second) move it; any person's event resets it.
"""

from __future__ import annotations

import dataclasses
import math
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from contract import wire
from contract.errors import KioskError
from contract.units import PIN_LENGTH
from drivers import card
from kiosk import procedures as procedures_data

# --- states -------------------------------------------------------------------------
WELCOME = "welcome"
NOTES = "notes"
PLACE_CARD = "place_card"
READING_CARD = "reading_card"
CHOOSE_SERVICE = "choose_service"
ENTER_IDS = "enter_ids"
CONFIRM = "confirm"
PIN = "pin"
PROCESSING = "processing"
RESULT = "result"
RECEIPT = "receipt"
TAKE_CARD = "take_card"
STATUS = "status"
ERROR = "error"
CAMPAIGN_CLOSED = "campaign_closed"
MENU = "menu"
PROCEDURE_INFO = "procedure_info"
MAINTENANCE = "maintenance"

STATES = (
    WELCOME,
    NOTES,
    PLACE_CARD,
    READING_CARD,
    CHOOSE_SERVICE,
    ENTER_IDS,
    CONFIRM,
    PIN,
    PROCESSING,
    RESULT,
    RECEIPT,
    TAKE_CARD,
    STATUS,
    ERROR,
    CAMPAIGN_CLOSED,
    MENU,
    PROCEDURE_INFO,
    MAINTENANCE,
)

#: States where a person is expected to act, so the idle timer runs.
TIMED_STATES = frozenset(
    {
        WELCOME,
        NOTES,
        PLACE_CARD,
        CHOOSE_SERVICE,
        ENTER_IDS,
        CONFIRM,
        PIN,
        RESULT,
        RECEIPT,
        STATUS,
        ERROR,
        CAMPAIGN_CLOSED,
        MENU,
        PROCEDURE_INFO,
    }
)
#: States in which the card must stay in the reader; removing it ends the session.
CARD_STATES = frozenset({READING_CARD, CHOOSE_SERVICE, ENTER_IDS, CONFIRM, PIN, PROCESSING})

MENU_APPLY = "apply"
MENU_STATUS = "status"
MENU_SERVICES = "services"  # the 行政サービス top menu

RESULT_ACCEPTED = "accepted"
RESULT_PENDING = "pending"
RESULT_REJECTED = "rejected"

# Why a session ended (``Session.notice`` of the next one; keys ``screens.notice.*``).
END_DONE = "done"
END_CANCEL = "cancelled"
END_CARD_REMOVED = "card_removed"
END_IDLE = "idle_timeout"

# Processing phases (keys ``screens.processing.*``).
PHASE_SIGNING = "signing"
PHASE_VERIFYING = "verifying"
PHASE_ENQUEUING = "enqueuing"
PHASE_SENDING = "sending"
PHASE_QUERYING = "querying"  # status: asking the central service

# Error kinds the flow produces itself (keys ``errors.<kind>``); every other kind it
# shows or routes on is the ``kind`` of the error class that raised it.
SERVICE_UNKNOWN = "service_unknown"  # the chosen service is not in the catalog
SERVICE_APP_ONLY = "service_app_only"  # the chosen service registers in its app only
STATUS_OFFLINE = "status_offline"  # a status check while the central service is away
QUEUE_FULL = "queue_full"  # no room to store an application: told before the card is read
CONFLICT_REASON = "malformed"  # shown for a wire.CONFLICT answer (a wire.REJECTION_REASONS)


# --- the catalog the flow needs (kiosk/catalog.py implements it) --------------------
class ServiceRules(Protocol):
    code: str
    kiosk_allowed: bool

    def check_entry(self, service_user_id: str, security_codes: list[str]) -> None: ...


class CatalogView(Protocol):
    def service(self, code: str) -> ServiceRules: ...

    def open_campaigns(self, today: Any) -> list[Any]: ...

    def last_campaign(self) -> Any: ...


@dataclass(frozen=True)
class FlowContext:
    """What the flow reads from outside on each step: configuration and the clock."""

    kiosk_id: str
    catalog: CatalogView
    now: float = 0.0  # monotonic seconds
    today: Any = None  # datetime.date, for campaign windows
    idle_seconds: float = 90.0
    countdown_seconds: float = 20.0
    card_left_cue_seconds: float = 10.0
    default_language: str = "ja"
    procedures: Any = None  # kiosk.procedures.Procedures; None: apply and status only
    #: In an accessibility mode (``Session.assist``) every time limit is this much longer.
    assist_time_factor: float = 3.0


# --- events (in) ----------------------------------------------------------------------
@dataclass(frozen=True)
class ChooseLanguage:
    lang: str


@dataclass(frozen=True)
class Start:
    """The person chose a menu on the welcome screen."""

    menu: str = MENU_APPLY
    campaign_id: str | None = None  # None: the one open campaign


@dataclass(frozen=True)
class SetLegalRepresentative:
    """Answer to "are you applying for a child under 15 (法定代理人)?"."""

    yes: bool


@dataclass(frozen=True)
class AgreeTerms:
    pass


@dataclass(frozen=True)
class Back:
    pass


@dataclass(frozen=True)
class Cancel:
    pass


@dataclass(frozen=True)
class Done:
    """The person pressed the one "next / finish" button of result, receipt, status, error."""


@dataclass(frozen=True)
class StillHere:
    """The person touched "continue" while the idle countdown was shown."""


@dataclass(frozen=True)
class SetAssist:
    """An accessibility mode went on or off (large text and high contrast, the keypad):
    every time limit of the session becomes ``FlowContext.assist_time_factor`` longer."""

    on: bool


@dataclass(frozen=True)
class LongerTimes:
    """The person works in a way that takes longer: the physical keypad (its first key) or
    the handset (issue 10). Every time limit of the session becomes
    ``FlowContext.assist_time_factor`` longer, as with large text, without changing the
    screen; it lasts until the session ends (large text going off does not shorten it)."""

    reason: str = "keypad"  # keypad or handset: for the log, the same time either way


@dataclass(frozen=True)
class Tick:
    """About once a second; moves the idle countdown."""


@dataclass(frozen=True)
class NetworkChanged:
    online: bool


@dataclass(frozen=True)
class QueueRoom:
    """The queue's storage has (no longer) room to keep one more application safely
    (``offline_queue.store.QueueStatus.full``): a full kiosk refuses a procedure that stores
    before the card is read and the PIN asked, not at its end."""

    full: bool


@dataclass(frozen=True)
class OutOfService:
    """The central service's heartbeat answer said the kiosk is (not) out of service; or,
    with ``storage``, the kiosk's own queue could not be opened (kiosk/storage.py): that
    maintenance lasts until a restart, whatever an operator says."""

    out: bool
    storage: bool = False


@dataclass(frozen=True)
class CardPlaced:
    pass


@dataclass(frozen=True)
class CardRemoved:
    pass


@dataclass(frozen=True, repr=False)
class CertificateRead:
    certificate_der: bytes
    tries_left: int | None = None
    session_id: str = ""  # the session that asked; answers to another are dropped

    def __repr__(self) -> str:  # never print a certificate
        return f"CertificateRead(<{len(self.certificate_der)} bytes>, tries_left={self.tries_left})"


@dataclass(frozen=True)
class TriesLeftRead:
    tries_left: int
    session_id: str = ""  # the session that asked; answers to another are dropped


@dataclass(frozen=True)
class StatusChallenge:
    nonce: str
    session_id: str = ""  # the session that asked; answers to another are dropped


@dataclass(frozen=True)
class ServiceChosen:
    code: str


@dataclass(frozen=True, repr=False)
class IdsEntered:
    service_user_id: str
    security_codes: tuple[str, ...] = ()

    def __repr__(self) -> str:
        return "IdsEntered(<redacted>)"


@dataclass(frozen=True)
class Confirmed:
    pass


@dataclass(frozen=True, repr=False)
class PinEntered:
    """The PIN as typed, in a buffer that gets zeroed: never copy it into a str."""

    pin: bytearray

    def __repr__(self) -> str:
        return "PinEntered(<redacted>)"


@dataclass(frozen=True, repr=False)
class Signed:
    signature: bytes
    session_id: str = ""  # the session that asked; answers to another are dropped

    def __repr__(self) -> str:
        return "Signed(<signature>)"


@dataclass(frozen=True)
class SignatureVerified:
    session_id: str = ""  # the session that asked; answers to another are dropped


@dataclass(frozen=True)
class Enqueued:
    enrollment_id: str
    receipt_no: str
    session_id: str = ""  # the session that asked; answers to another are dropped


@dataclass(frozen=True)
class Submitted:
    """The central service answered for the enrollment (wire.ACCEPTED/REJECTED/RETRY/...)."""

    status: str
    mykey_id: str | None = None
    reason: str | None = None
    service_code: str | None = None
    session_id: str = ""  # the session that asked; answers to another are dropped
    #: a procedure's points granted with its acceptance (None: the answer said none), and
    #: why there are none (POINTS_NEED_APPLICATION)
    points: int | None = None
    points_reason: str | None = None


@dataclass(frozen=True)
class SubmitDeferred:
    """Not sent now (offline, timeout): the sync worker will deliver it."""

    session_id: str = ""  # the session that asked; answers to another are dropped


@dataclass(frozen=True)
class Printed:
    session_id: str = ""  # the session that asked; answers to another are dropped


@dataclass(frozen=True)
class StatusAnswered:
    """申込状況: the chosen service (None: not applied yet), MyKey ID, state."""

    applied: bool
    service_code: str | None = None
    mykey_id: str | None = None
    campaign_id: str | None = None
    pending_here: bool = False  # not at central yet, but waiting in this kiosk's queue
    session_id: str = ""  # the session that asked; answers to another are dropped
    #: every procedure's state for this card, as (procedure id, state) pairs; state is
    #: "done", "pending_here" or "none" (see kiosk/controller.py)
    procedures: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Failed:
    """An effect failed with a typed error: what its class says (``kind``, ``retryable``)."""

    kind: str
    retryable: bool = False
    tries_left: int | None = None
    session_id: str = ""  # the session that asked; answers to another are dropped

    @classmethod
    def of(cls, error: KioskError) -> Failed:
        """The answer for ``error``: its kind, whether trying again may work, tries left."""
        return cls(error.kind, error.retryable, getattr(error, "tries_left", None))


# --- effects (out) ---------------------------------------------------------------------
@dataclass(frozen=True)
class ReadCertificate:
    """Read the user-auth certificate, check chain and dates; also read PIN tries left.

    For an application (not a status check), a card that already has an open or
    accepted enrollment at this kiosk fails early with ``already_enrolled_here``.
    """

    for_status: bool = False
    session_id: str = ""  # the session that asked; answers to another are dropped
    procedure: str = ""  # a procedure other than the Mynapoint application: its own guard


@dataclass(frozen=True)
class ReadTriesLeft:
    session_id: str = ""  # the session that asked; answers to another are dropped


@dataclass(frozen=True)
class FetchStatusChallenge:
    session_id: str = ""  # the session that asked; answers to another are dropped


@dataclass(frozen=True, repr=False)
class SignDigest:
    """VERIFY the PIN and sign ``digest`` in one card session; zero ``pin`` afterwards."""

    digest: bytes
    pin: bytearray
    session_id: str = ""  # the session that asked; answers to another are dropped

    def __repr__(self) -> str:
        return f"SignDigest(digest={self.digest.hex()[:12]}..., pin=<redacted>)"


@dataclass(frozen=True, repr=False)
class VerifySignature:
    certificate_der: bytes
    digest: bytes
    signature: bytes
    session_id: str = ""  # the session that asked; answers to another are dropped

    def __repr__(self) -> str:
        return "VerifySignature(<redacted>)"


@dataclass(frozen=True, repr=False)
class Enqueue:
    """Seal and commit durably; answers ``Enqueued(enrollment_id, receipt_no)``."""

    payload: dict[str, Any]
    certificate_der: bytes
    signature: bytes
    session_id: str = ""  # the session that asked; answers to another are dropped

    def __repr__(self) -> str:
        return f"Enqueue(enrollment_id={self.payload.get('enrollment_id')})"


@dataclass(frozen=True)
class Submit:
    """Send now if online (or wake the sync worker); answers Submitted / SubmitDeferred."""

    enrollment_id: str
    session_id: str = ""  # the session that asked; answers to another are dropped


@dataclass(frozen=True, repr=False)
class QueryStatus:
    certificate_der: bytes
    nonce: str
    signature: bytes
    session_id: str = ""  # the session that asked; answers to another are dropped

    def __repr__(self) -> str:
        return "QueryStatus(<redacted>)"


@dataclass(frozen=True)
class ReceiptFacts:
    """What the receipt shows: no PIN, no full ID, no code, no certificate."""

    receipt_no: str
    enrollment_id: str
    kiosk_id: str
    campaign_id: str
    service_code: str
    masked_user_id: str
    result: str  # RESULT_ACCEPTED / RESULT_PENDING
    mykey_id: str | None
    legal_representative: bool
    created_at: str
    lang: str = "ja"  # the person's language when the receipt was asked for
    procedure: str = ""  # "": the Mynapoint application; else the procedure's id
    points: int | None = None  # granted with an accepted procedure (None: not said)


@dataclass(frozen=True)
class PrintReceipt:
    receipt: ReceiptFacts
    session_id: str = ""  # the session that asked; answers to another are dropped


@dataclass(frozen=True)
class StartIdleTimer:
    seconds: float


@dataclass(frozen=True)
class StopIdleTimer:
    pass


@dataclass(frozen=True)
class CueCardLeftBehind:
    """Sound / flash: the card is still in the reader."""


@dataclass(frozen=True)
class Wipe:
    """The session ended: clear every widget and input; drop the card connection."""

    reason: str


Effect = Any
Event = Any


# --- the session -----------------------------------------------------------------------
def _new_session_id() -> str:
    return secrets.token_hex(8)


@dataclass
class Session:
    """One person's session. Sensitive fields are buffers that ``wipe`` zeroes."""

    state: str = WELCOME
    lang: str = "ja"
    session_id: str = field(default_factory=_new_session_id)
    online: bool = True
    out_of_service: bool = False  # an operator took the kiosk out of service
    storage_broken: bool = False  # no queue opened: maintenance until a restart
    queue_full: bool = False  # no room to store an application (QueueRoom)
    notice: str | None = None  # why the previous session ended
    menu: str | None = None
    campaign_id: str | None = None
    closed_campaign_id: str | None = None
    legal_representative: bool = False
    terms_agreed: bool = False
    card_present: bool = False
    tries_left: int | None = None
    service_code: str | None = None
    input_error: str | None = None  # an error kind, shown on the same screen
    input_error_field: str | None = None  # "service", "service_user_id", "security_code_<n>", "pin"
    processing_phase: str | None = None
    enrollment_id: str | None = None
    receipt_no: str | None = None
    masked_user_id: str | None = None
    result: str | None = None
    mykey_id: str | None = None
    points: int | None = None  # what central granted with an accepted procedure
    points_reason: str | None = None
    rejection_kind: str | None = None
    receipt: ReceiptFacts | None = None
    receipt_printing: bool = False
    receipt_on_screen: bool = False
    status_info: StatusAnswered | None = None
    error_kind: str | None = None
    error_next: str | None = None
    idle_deadline: float | None = None
    countdown: int | None = None
    card_wait_started: float | None = None
    card_left_behind: bool = False
    procedure: str | None = None  # a signed_consent procedure's id (None: Mynapoint)
    info_procedure: str | None = None  # procedure_info: the procedure it explains
    assist: bool = False  # large text and high contrast: time limits are longer
    longer_times: bool = False  # the keypad or the handset is in use: time limits are longer
    extensions: int = 0  # how often the person asked for more time (the countdown's button)
    # sensitive: zeroed by wipe()
    service_user_id: bytearray = field(default_factory=bytearray, repr=False)
    security_codes: list[bytearray] = field(default_factory=list, repr=False)
    certificate_der: bytearray = field(default_factory=bytearray, repr=False)
    payload: dict[str, Any] | None = field(default=None, repr=False)
    digest: bytes | None = field(default=None, repr=False)
    signature: bytes | None = field(default=None, repr=False)
    status_nonce: str | None = field(default=None, repr=False)

    @property
    def last_try(self) -> bool:
        """The strong warning: one more wrong PIN locks the card."""
        return self.tries_left == 1

    def wipe(self) -> None:
        """Overwrite everything of the person held by this session object."""
        _zero(self.service_user_id)
        for code in self.security_codes:
            _zero(code)
        self.security_codes.clear()
        _zero(self.certificate_der)
        if self.payload is not None:
            self.payload.clear()
        for name in ("payload", "digest", "signature", "status_nonce", "status_info"):
            setattr(self, name, None)
        for name in ("service_code", "masked_user_id", "mykey_id", "enrollment_id"):
            setattr(self, name, None)
        self.receipt_no = None
        self.receipt = None
        self.tries_left = None


def _zero(buffer: bytearray) -> None:
    buffer[:] = bytes(len(buffer))
    del buffer[:]


def mask_user_id(user_id: str) -> str:
    """What the receipt and screens show of a 決済サービスID: its last 4 characters."""
    tail = user_id[-4:] if len(user_id) > 4 else ""
    return "*" * max(len(user_id) - len(tail), 4) + tail


# --- the step --------------------------------------------------------------------------
PERSON_EVENTS = (
    ChooseLanguage,
    Start,
    SetLegalRepresentative,
    AgreeTerms,
    Back,
    Cancel,
    Done,
    StillHere,
    SetAssist,
    LongerTimes,
    ServiceChosen,
    IdsEntered,
    Confirmed,
    PinEntered,
)


def new_session(ctx: FlowContext, *, online: bool = True, notice: str | None = None) -> Session:
    session = Session(lang=ctx.default_language, online=online, notice=notice)
    _arm_idle(session, ctx)
    return session


def step(session: Session, event: Event, ctx: FlowContext) -> tuple[Session, tuple[Effect, ...]]:
    """The next session and the effects to run, for one event."""
    was = session.state
    if _stale(session, event):
        _refuse(event)
        return session, ()
    if isinstance(event, NetworkChanged):
        return dataclasses.replace(session, online=event.online), ()
    if isinstance(event, QueueRoom):
        return dataclasses.replace(session, queue_full=event.full), ()
    if isinstance(event, OutOfService):
        session = _on_out_of_service(session, event, ctx)
        return session, tuple(_timer_effects(was, session, ctx, event))
    if isinstance(event, Tick):
        session, effects = _on_tick(session, ctx)
    elif isinstance(event, CardRemoved):
        session, effects = _on_card_removed(session, ctx)
    elif isinstance(event, Cancel):
        if session.state == PROCESSING:  # signed or signing: it may already be stored
            return session, ()
        session, effects = _end(session, ctx, END_CANCEL)
        if was == WELCOME:  # nothing was under way: a reset for the next person, and
            session.notice = None  # "手続きを中止しました" would tell them of nothing
    else:
        handler = _HANDLERS.get((session.state, type(event)))
        if handler is None or not _in_phase(session, event):
            _refuse(event)
            return session, ()
        session = dataclasses.replace(session)
        if isinstance(event, PERSON_EVENTS):
            session.input_error = None
            session.input_error_field = None
        session, effects = handler(session, event, ctx)
    effects = _stamp(effects, session.session_id)
    return session, effects + tuple(_timer_effects(was, session, ctx, event))


def _stale(session: Session, event: Event) -> bool:
    """A device answer for a session that has ended (e.g. a late card error)."""
    asked_by = getattr(event, "session_id", "")
    return bool(asked_by) and asked_by != session.session_id


def _stamp(effects: Iterable[Effect], session_id: str) -> tuple[Effect, ...]:
    """Name the asking session on every effect that will be answered."""
    return tuple(
        dataclasses.replace(e, session_id=session_id) if getattr(e, "session_id", None) == "" else e
        for e in effects
    )


#: Device answers are taken only in the processing phase that asked for them.
_PHASE_OF_ANSWER: dict[type, str] = {}


def _in_phase(session: Session, event: Event) -> bool:
    phase = _PHASE_OF_ANSWER.get(type(event))
    return phase is None or session.processing_phase == phase


def _refuse(event: Event) -> None:
    """An event that means nothing in this state is dropped (e.g. a double tap)."""
    if isinstance(event, PinEntered):
        _zero(event.pin)


def _timer_effects(was: str, session: Session, ctx: FlowContext, event: Event) -> Iterable[Effect]:
    timed = session.state in TIMED_STATES
    if timed and (was != session.state or isinstance(event, PERSON_EVENTS)):
        if isinstance(event, Tick):  # a new session after an idle timeout is armed already
            return
        _arm_idle(session, ctx)
        yield StartIdleTimer(idle_seconds(session, ctx))
    elif not timed and was in TIMED_STATES:
        session.idle_deadline = None
        session.countdown = None
        yield StopIdleTimer()


def idle_seconds(session: Session, ctx: FlowContext) -> float:
    """How long this session may stay idle: longer in an accessibility mode."""
    return ctx.idle_seconds * _time_factor(session, ctx)


def _time_factor(session: Session, ctx: FlowContext) -> float:
    return ctx.assist_time_factor if session.assist or session.longer_times else 1.0


def countdown_seconds(session: Session, ctx: FlowContext) -> float:
    """How long before the idle timeout the warning (with its "continue") is shown."""
    return ctx.countdown_seconds * _time_factor(session, ctx)


def _arm_idle(session: Session, ctx: FlowContext) -> None:
    session.idle_deadline = ctx.now + idle_seconds(session, ctx)
    session.countdown = None


# --- session end ----------------------------------------------------------------------
def _on_out_of_service(session: Session, event: OutOfService, ctx: FlowContext) -> Session:
    """Out: the welcome screen becomes the maintenance screen (a person already in a
    session finishes it first). Back in service: the maintenance screen is a welcome."""
    if event.storage:
        session = dataclasses.replace(session, storage_broken=session.storage_broken or event.out)
    else:
        session = dataclasses.replace(session, out_of_service=event.out)
    down = session.out_of_service or session.storage_broken
    if down and session.state in (WELCOME, CAMPAIGN_CLOSED):
        session.state = MAINTENANCE
    elif not down and session.state == MAINTENANCE:
        queue_full = session.queue_full
        session = new_session(ctx, online=session.online)
        session.queue_full = queue_full
    return session


def _end(session: Session, ctx: FlowContext, reason: str) -> tuple[Session, tuple[Effect, ...]]:
    """End hard: zero the old session, start a new one with nothing of the person."""
    card_present = session.card_present
    online = session.online
    out_of_service, queue_full = session.out_of_service, session.queue_full
    storage_broken = session.storage_broken
    session.wipe()
    fresh = new_session(ctx, online=online, notice=reason)
    fresh.out_of_service, fresh.queue_full = out_of_service, queue_full
    fresh.storage_broken = storage_broken
    if out_of_service or storage_broken:
        fresh.state = MAINTENANCE
        fresh.idle_deadline = None
    if card_present and reason != END_CARD_REMOVED:
        fresh.state = TAKE_CARD
        fresh.card_present = True
        fresh.card_wait_started = ctx.now
        fresh.idle_deadline = None
    return fresh, (Wipe(reason),)


def _on_card_removed(session: Session, ctx: FlowContext) -> tuple[Session, tuple[Effect, ...]]:
    if session.state == ERROR and session.error_next == "retry_card":
        session = dataclasses.replace(session, card_present=False, state=PLACE_CARD)
        session.error_kind = session.error_next = None
        return session, ()
    if session.state == TAKE_CARD or (
        session.state in (RESULT, RECEIPT) and session.result != RESULT_REJECTED
    ):
        # Taken before "done" or while the receipt prints: the application is already
        # accepted or queued, so the welcome thanks them; "ended because the card was
        # removed" would read as if it had been cancelled. The receipt still prints.
        session = dataclasses.replace(session, card_present=False)
        return _end(session, ctx, END_DONE)
    if session.state in CARD_STATES or session.state in (RESULT, RECEIPT, STATUS, ERROR):
        session.card_present = False
        return _end(session, ctx, END_CARD_REMOVED)
    return dataclasses.replace(session, card_present=False), ()


def _on_tick(session: Session, ctx: FlowContext) -> tuple[Session, tuple[Effect, ...]]:
    if session.state == TAKE_CARD:
        waited = ctx.now - (session.card_wait_started or ctx.now)
        if waited >= ctx.card_left_cue_seconds:
            session = dataclasses.replace(session, card_left_behind=True)
            return session, (CueCardLeftBehind(),)
        return session, ()
    if session.state not in TIMED_STATES or session.idle_deadline is None:
        return session, ()
    left = session.idle_deadline - ctx.now
    if _at_rest(session, ctx):  # nobody's session: no warning, the notice goes after a while
        if left <= 0:
            session = dataclasses.replace(session, notice=None)
            _arm_idle(session, ctx)
        return session, ()
    if left <= 0:
        return _end(session, ctx, END_IDLE)
    countdown = math.ceil(left) if left <= countdown_seconds(session, ctx) else None
    if countdown != session.countdown:
        session = dataclasses.replace(session, countdown=countdown)
    return session, ()


def _at_rest(session: Session, ctx: FlowContext) -> bool:
    """The welcome screen as nobody left it: the kiosk's language, no mode turned on. (A
    language or large text chosen there is somebody's: warned, then reset for the next.)"""
    return (
        session.state == WELCOME
        and session.lang == ctx.default_language
        and not session.assist
        and not session.longer_times
    )


# --- handlers --------------------------------------------------------------------------
Result = tuple[Session, tuple[Effect, ...]]


def _still_here(session: Session, event: StillHere, ctx: FlowContext) -> Result:
    if session.countdown is not None:  # more time, asked for on the warning: no limit on how often
        session.extensions += 1
    return session, ()


def _set_assist(session: Session, event: SetAssist, ctx: FlowContext) -> Result:
    session.assist = event.on
    return session, ()


def _longer_times(session: Session, event: LongerTimes, ctx: FlowContext) -> Result:
    session.longer_times = True
    return session, ()


def _choose_language(session: Session, event: ChooseLanguage, ctx: FlowContext) -> Result:
    session.lang = event.lang
    return session, ()


def _start(session: Session, event: Start, ctx: FlowContext) -> Result:
    session.menu = event.menu
    session.notice = None
    procedure = ctx.procedures.by_start(event.menu) if ctx.procedures is not None else None
    if event.menu == MENU_SERVICES and ctx.procedures is not None:
        session.menu = None
        session.state = MENU
        return session, ()
    if procedure is not None and (
        procedure.form == procedures_data.KIND_INFO
        or not procedure.open_with(ctx.today, ctx.catalog)
    ):
        session.menu = None
        session.info_procedure = procedure.id
        session.state = PROCEDURE_INFO
        return session, ()
    if event.menu == MENU_STATUS:
        if not session.online:
            return _error(session, STATUS_OFFLINE, "end")
        session.state = PLACE_CARD
        return (_read_card(session)) if session.card_present else (session, ())
    if session.queue_full:  # every procedure left stores what the person signs
        session.menu = None
        return _error(session, QUEUE_FULL, "end")
    if procedure is not None and procedure.form == procedures_data.KIND_SIGNED_CONSENT:
        return _start_procedure(session, procedure, ctx, event.campaign_id)
    open_now = ctx.catalog.open_campaigns(ctx.today)
    if procedure is not None and procedure.campaign_kind:  # not another procedure's campaign
        open_now = [c for c in open_now if getattr(c, "kind", None) == procedure.campaign_kind]
    chosen = [c for c in open_now if event.campaign_id in (None, c.id)]
    if not chosen:
        last = ctx.catalog.last_campaign()
        session.closed_campaign_id = event.campaign_id or (last.id if last else None)
        session.state = CAMPAIGN_CLOSED
        return session, ()
    session.campaign_id = chosen[0].id
    session.state = NOTES
    return session, ()


def _start_procedure(
    session: Session, procedure: Any, ctx: FlowContext, campaign_id: str | None = None
) -> Result:
    """A signed consent (健康保険証の利用申込み): its campaign, if one is open, adds points;
    ``campaign_id`` picks one of several (自治体マイナポイント: one per municipality)."""
    session.procedure = procedure.id
    wanted = procedure.campaign_kind
    open_now = ctx.catalog.open_campaigns(ctx.today) if wanted else []
    campaign = next(
        (c for c in open_now if getattr(c, "kind", None) == wanted and campaign_id in (None, c.id)),
        None,
    )
    session.campaign_id = campaign.id if campaign is not None else None
    if procedure.has_step(NOTES):
        session.state = NOTES
        return session, ()
    session.state = PLACE_CARD
    return (_read_card(session)) if session.card_present else (session, ())


def _procedure(session: Session, ctx: FlowContext) -> Any:
    """The session's signed-consent procedure (None: the Mynapoint application)."""
    if session.procedure is None or ctx.procedures is None:
        return None
    return ctx.procedures.get(session.procedure)


def _set_legal_representative(
    session: Session, event: SetLegalRepresentative, ctx: FlowContext
) -> Result:
    session.legal_representative = event.yes
    return session, ()


def _agree_terms(session: Session, event: AgreeTerms, ctx: FlowContext) -> Result:
    session.terms_agreed = True
    session.state = PLACE_CARD
    if session.card_present:
        return _read_card(session)
    return session, ()


def _back_to(state: str):
    def handler(session: Session, event: Back, ctx: FlowContext) -> Result:
        session.state = state
        return session, ()

    return handler


def _card_placed(session: Session, event: CardPlaced, ctx: FlowContext) -> Result:
    session.card_present = True
    if session.state == PLACE_CARD:
        return _read_card(session)
    return session, ()


def _read_card(session: Session) -> Result:
    session.state = READING_CARD
    return session, (
        ReadCertificate(for_status=session.menu == MENU_STATUS, procedure=session.procedure or ""),
    )


def _certificate_read(session: Session, event: CertificateRead, ctx: FlowContext) -> Result:
    _zero(session.certificate_der)
    session.certificate_der = bytearray(event.certificate_der)
    session.tries_left = event.tries_left
    if session.menu == MENU_STATUS:
        return session, (FetchStatusChallenge(),)
    if event.tries_left == 0:
        return _error(session, card.PinBlocked.kind, "end")
    procedure = _procedure(session, ctx)
    if procedure is not None:  # a signed consent: no service, no IDs
        session.state = CONFIRM if procedure.has_step(CONFIRM) else PIN
        return session, ()
    session.state = CHOOSE_SERVICE
    return session, ()


def _status_challenge(session: Session, event: StatusChallenge, ctx: FlowContext) -> Result:
    if session.tries_left == 0:
        return _error(session, card.PinBlocked.kind, "end")
    session.status_nonce = event.nonce
    session.state = PIN
    return session, ()


def _service_chosen(session: Session, event: ServiceChosen, ctx: FlowContext) -> Result:
    try:
        service = ctx.catalog.service(event.code)
    except KeyError:
        session.input_error, session.input_error_field = SERVICE_UNKNOWN, "service"
        return session, ()
    if not service.kiosk_allowed:
        session.input_error, session.input_error_field = SERVICE_APP_ONLY, "service"
        return session, ()
    if session.service_code != event.code:
        _clear_ids(session)
    session.service_code = event.code
    session.state = ENTER_IDS
    return session, ()


def _clear_ids(session: Session) -> None:
    _zero(session.service_user_id)
    for code in session.security_codes:
        _zero(code)
    session.security_codes = []


def _ids_entered(session: Session, event: IdsEntered, ctx: FlowContext) -> Result:
    service = ctx.catalog.service(session.service_code)
    user_id = event.service_user_id.strip()
    codes = [code.strip() for code in event.security_codes]
    try:
        service.check_entry(user_id, codes)
    except Exception as error:  # an InputRejected with kind and field
        kind = getattr(error, "kind", None)
        if kind is None:
            raise
        session.input_error = kind
        session.input_error_field = getattr(error, "field", None)
        return session, ()
    _clear_ids(session)
    session.service_user_id = bytearray(user_id.encode("utf-8"))
    session.security_codes = [bytearray(code.encode("utf-8")) for code in codes]
    session.masked_user_id = mask_user_id(user_id)
    session.state = CONFIRM
    return session, ()


def _confirmed(session: Session, event: Confirmed, ctx: FlowContext) -> Result:
    session.state = PIN
    return session, (ReadTriesLeft(),)


def _tries_left_read(session: Session, event: TriesLeftRead, ctx: FlowContext) -> Result:
    session.tries_left = event.tries_left
    if event.tries_left == 0:
        return _error(session, card.PinBlocked.kind, "end")
    return session, ()


def _pin_entered(session: Session, event: PinEntered, ctx: FlowContext) -> Result:
    pin = event.pin
    if len(pin) != PIN_LENGTH or not all(0x30 <= b <= 0x39 for b in pin):
        _zero(pin)
        session.input_error, session.input_error_field = card.PinFormatInvalid.kind, "pin"
        return session, ()
    procedure = _procedure(session, ctx)
    if session.menu == MENU_STATUS:
        session.digest = wire.status_challenge_digest(session.status_nonce or "", ctx.kiosk_id)
        session.processing_phase = PHASE_SIGNING
    elif procedure is not None:
        session.payload = procedure.payload_builder()(
            procedure=procedure.id,
            kiosk_id=ctx.kiosk_id,
            campaign_id=session.campaign_id or "",
            legal_representative=session.legal_representative,
        )
        session.enrollment_id = session.payload["enrollment_id"]
        session.digest = wire.payload_digest(session.payload)
        session.processing_phase = PHASE_SIGNING
    else:
        session.payload = wire.new_payload(
            kiosk_id=ctx.kiosk_id,
            campaign_id=session.campaign_id or "",
            service_code=session.service_code or "",
            service_user_id=session.service_user_id.decode("utf-8"),
            security_codes=[code.decode("utf-8") for code in session.security_codes],
            legal_representative=session.legal_representative,
        )
        session.enrollment_id = session.payload["enrollment_id"]
        session.digest = wire.payload_digest(session.payload)
        session.processing_phase = PHASE_SIGNING
    session.state = PROCESSING
    return session, (SignDigest(session.digest, pin),)


def _signed(session: Session, event: Signed, ctx: FlowContext) -> Result:
    session.signature = event.signature
    if session.menu == MENU_STATUS:
        session.processing_phase = PHASE_QUERYING
        return session, (
            QueryStatus(
                bytes(session.certificate_der), session.status_nonce or "", event.signature
            ),
        )
    session.processing_phase = PHASE_VERIFYING
    return session, (
        VerifySignature(bytes(session.certificate_der), session.digest or b"", event.signature),
    )


def _signature_verified(session: Session, event: SignatureVerified, ctx: FlowContext) -> Result:
    session.processing_phase = PHASE_ENQUEUING
    payload = dict(session.payload or {})
    return session, (Enqueue(payload, bytes(session.certificate_der), session.signature or b""),)


def _enqueued(session: Session, event: Enqueued, ctx: FlowContext) -> Result:
    """Durable now: drop what is no longer needed of the person, then try to send."""
    created_at = (session.payload or {}).get("created_at", "")
    session.enrollment_id = event.enrollment_id
    session.receipt_no = event.receipt_no
    session.receipt = ReceiptFacts(
        receipt_no=event.receipt_no,
        enrollment_id=event.enrollment_id,
        kiosk_id=ctx.kiosk_id,
        campaign_id=session.campaign_id or "",
        service_code=session.service_code or "",
        masked_user_id=session.masked_user_id or "",
        result=RESULT_PENDING,
        mykey_id=None,
        legal_representative=session.legal_representative,
        created_at=created_at,
        lang=session.lang,
        procedure=session.procedure or "",
    )
    _forget_secrets(session)
    if not session.online:
        return _show_result(session, RESULT_PENDING)
    session.processing_phase = PHASE_SENDING
    return session, (Submit(event.enrollment_id),)


def _forget_secrets(session: Session) -> None:
    _clear_ids(session)
    _zero(session.certificate_der)
    if session.payload is not None:
        session.payload.clear()
    session.payload = None
    session.signature = None
    session.digest = None


def _submitted(session: Session, event: Submitted, ctx: FlowContext) -> Result:
    if event.status == wire.ACCEPTED:
        session.mykey_id = event.mykey_id
        session.points, session.points_reason = event.points, event.points_reason
        return _show_result(session, RESULT_ACCEPTED)
    if event.status == wire.REJECTED:
        session.rejection_kind = event.reason or KioskError.kind
        if event.service_code:
            session.service_code = event.service_code  # already_applied: the one chosen
        return _show_result(session, RESULT_REJECTED)
    if event.status == wire.CONFLICT:
        session.rejection_kind = CONFLICT_REASON
        return _show_result(session, RESULT_REJECTED)
    return _show_result(session, RESULT_PENDING)


def _submit_deferred(session: Session, event: SubmitDeferred, ctx: FlowContext) -> Result:
    return _show_result(session, RESULT_PENDING)


def _show_result(session: Session, result: str) -> Result:
    session.result = result
    session.processing_phase = None
    session.state = RESULT
    if session.receipt is not None:
        session.receipt = dataclasses.replace(
            session.receipt, result=result, mykey_id=session.mykey_id, points=session.points
        )
    return session, ()


def _result_done(session: Session, event: Done, ctx: FlowContext) -> Result:
    if session.result == RESULT_REJECTED or session.receipt is None:
        return _end(session, ctx, END_DONE)
    procedure = _procedure(session, ctx)
    if procedure is not None and not procedure.has_step(RECEIPT):
        return _end(session, ctx, END_DONE)
    session.state = RECEIPT
    session.receipt_printing = True
    session.receipt = dataclasses.replace(session.receipt, lang=session.lang)
    return session, (PrintReceipt(session.receipt),)


def _printed(session: Session, event: Printed, ctx: FlowContext) -> Result:
    session.receipt_printing = False
    return _end(session, ctx, END_DONE)


def _receipt_done(session: Session, event: Done, ctx: FlowContext) -> Result:
    if session.receipt_printing:
        return session, ()
    return _end(session, ctx, END_DONE)


def _status_answered(session: Session, event: StatusAnswered, ctx: FlowContext) -> Result:
    _forget_secrets(session)
    session.status_info = event
    session.processing_phase = None
    session.state = STATUS
    return session, ()


def _done_ends(session: Session, event: Done, ctx: FlowContext) -> Result:
    return _end(session, ctx, END_DONE)


def _error_done(session: Session, event: Done, ctx: FlowContext) -> Result:
    if session.error_next == "retry_card" and session.card_present:
        session.error_kind = session.error_next = None
        return _read_card(session)
    if session.error_next == "retry_card":
        session.error_kind = session.error_next = None
        session.state = PLACE_CARD
        return session, ()
    return _end(session, ctx, END_DONE)


def _error(session: Session, kind: str, next_step: str) -> Result:
    session.error_kind = kind
    session.error_next = next_step
    session.processing_phase = None
    session.state = ERROR
    _forget_secrets(session)
    return session, ()


# --- failures: where the session goes, from what the error's class says ------------------
def _failed(session: Session, event: Failed, ctx: FlowContext) -> Result:
    """Route on the error class's ``kind`` and ``retryable``, and on what the flow asked."""
    if event.kind == card.CardRemoved.kind:
        session.card_present = False
        return _end(session, ctx, END_CARD_REMOVED)
    if session.state == RECEIPT:
        return _print_failed(session, event)
    if session.state == PROCESSING and session.processing_phase == PHASE_SENDING:
        return _show_result(session, RESULT_PENDING)
    if event.kind == card.PinIncorrect.kind and session.state == PROCESSING:
        return _pin_wrong(session, event)
    if event.kind == card.PinBlocked.kind:
        return _error(session, event.kind, "end")
    if event.retryable and _asking_central(session):
        return _error(session, STATUS_OFFLINE, "end")
    if event.retryable and _asking_the_card(session):
        return _error(session, event.kind, "retry_card")
    return _error(session, event.kind, "end")


def _asking_the_card(session: Session) -> bool:
    """The failed effect read the card (certificate, tries left), or had it sign and
    checked what it signed."""
    if session.state == READING_CARD:
        return not session.certificate_der  # once read, a status check asks central
    return session.state == PIN or session.processing_phase in (PHASE_SIGNING, PHASE_VERIFYING)


def _asking_central(session: Session) -> bool:
    """A status check waiting for the central service: its challenge, or its answer."""
    if session.menu != MENU_STATUS:
        return False
    if session.state == READING_CARD:
        return bool(session.certificate_der)
    return session.processing_phase == PHASE_QUERYING


def _pin_wrong(session: Session, event: Failed) -> Result:
    session.tries_left = event.tries_left
    if event.tries_left == 0:
        return _error(session, card.PinBlocked.kind, "end")
    if session.payload is not None:
        session.payload.clear()
    session.payload = None
    session.digest = None
    session.enrollment_id = None
    session.processing_phase = None
    session.state = PIN
    session.input_error, session.input_error_field = card.PinIncorrect.kind, "pin"
    return session, ()


def _print_failed(session: Session, event: Failed) -> Result:
    """The enrollment is safe in the queue; show the receipt on screen instead."""
    session.receipt_printing = False
    session.receipt_on_screen = True
    session.error_kind = event.kind
    return session, ()


def _handlers() -> dict[tuple[str, type], Any]:
    table: dict[tuple[str, type], Any] = {}
    for state in TIMED_STATES:
        table[(state, StillHere)] = _still_here
    for state in TIMED_STATES | {TAKE_CARD, MAINTENANCE}:  # every screen a person reads
        table[(state, ChooseLanguage)] = _choose_language
    for state in STATES:  # the mode can change wherever the person is
        table[(state, SetAssist)] = _set_assist
        table[(state, LongerTimes)] = _longer_times
    for state in STATES:
        if state not in (PLACE_CARD, TAKE_CARD):
            table[(state, CardPlaced)] = _card_placed_elsewhere
    for state in (READING_CARD, PROCESSING, PIN, RECEIPT):
        table[(state, Failed)] = _failed
    table.update(
        {
            (WELCOME, Start): _start,
            (NOTES, SetLegalRepresentative): _set_legal_representative,
            (PLACE_CARD, SetLegalRepresentative): _set_legal_representative,
            (NOTES, AgreeTerms): _agree_terms,
            (NOTES, Back): _back_to(WELCOME),
            (PLACE_CARD, Back): _place_card_back,
            (PLACE_CARD, CardPlaced): _card_placed,
            (READING_CARD, CertificateRead): _certificate_read,
            (READING_CARD, StatusChallenge): _status_challenge,
            (CHOOSE_SERVICE, ServiceChosen): _service_chosen,
            (ENTER_IDS, IdsEntered): _ids_entered,
            (ENTER_IDS, Back): _back_to(CHOOSE_SERVICE),
            (CONFIRM, Confirmed): _confirmed,
            (CONFIRM, Back): _confirm_back,
            (PIN, TriesLeftRead): _tries_left_read,
            (PIN, PinEntered): _pin_entered,
            (PIN, Back): _pin_back,
            (PROCESSING, Signed): _signed,
            (PROCESSING, SignatureVerified): _signature_verified,
            (PROCESSING, Enqueued): _enqueued,
            (PROCESSING, Submitted): _submitted,
            (PROCESSING, SubmitDeferred): _submit_deferred,
            (PROCESSING, StatusAnswered): _status_answered,
            (RESULT, Done): _result_done,
            (RECEIPT, Printed): _printed,
            (RECEIPT, Done): _receipt_done,
            (STATUS, Done): _done_ends,
            (ERROR, Done): _error_done,
            (CAMPAIGN_CLOSED, Done): _done_ends,
            (CAMPAIGN_CLOSED, Back): _done_ends,
            (MENU, Start): _start,
            (MENU, Back): _back_to(WELCOME),
            (PROCEDURE_INFO, Done): _done_ends,
            (PROCEDURE_INFO, Back): _back_to(MENU),
        }
    )
    return table


def _card_placed_elsewhere(session: Session, event: CardPlaced, ctx: FlowContext) -> Result:
    """A card placed before it was asked for is remembered, not read."""
    session.card_present = True
    return session, ()


def _place_card_back(session: Session, event: Back, ctx: FlowContext) -> Result:
    procedure = _procedure(session, ctx)
    if procedure is not None and not procedure.has_step(NOTES):
        return _end(session, ctx, END_CANCEL)
    session.state = WELCOME if session.menu == MENU_STATUS else NOTES
    return session, ()


def _confirm_back(session: Session, event: Back, ctx: FlowContext) -> Result:
    if _procedure(session, ctx) is not None:  # nothing typed to fix: back is "stop"
        return _end(session, ctx, END_CANCEL)
    session.state = ENTER_IDS
    return session, ()


def _pin_back(session: Session, event: Back, ctx: FlowContext) -> Result:
    if session.menu == MENU_STATUS:
        return _end(session, ctx, END_CANCEL)
    procedure = _procedure(session, ctx)
    if procedure is not None and not procedure.has_step(CONFIRM):
        return _end(session, ctx, END_CANCEL)
    session.state = CONFIRM
    return session, ()


_HANDLERS = _handlers()
_PHASE_OF_ANSWER.update(
    {
        Signed: PHASE_SIGNING,
        SignatureVerified: PHASE_VERIFYING,
        Enqueued: PHASE_ENQUEUING,
        Submitted: PHASE_SENDING,
        SubmitDeferred: PHASE_SENDING,
        StatusAnswered: PHASE_QUERYING,
    }
)


# --- a convenience for the UI -------------------------------------------------------------
class Flow:
    """The current session and the context, for a caller that dispatches on one thread.

    >>> flow = Flow(ctx_factory)          # doctest: +SKIP
    >>> effects = flow.dispatch(Start())  # doctest: +SKIP
    >>> flow.session.state                # doctest: +SKIP
    'notes'
    """

    def __init__(self, context: Any) -> None:
        """``context()`` returns a fresh FlowContext (with the current clock) for each step."""
        self._context = context
        self.session = new_session(context())

    def dispatch(self, event: Event) -> tuple[Effect, ...]:
        self.session, effects = step(self.session, event, self._context())
        return effects
