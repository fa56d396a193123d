"""The session engine between the screens and the flow: events in, views out, on the UI thread.

The screens report a person's action as a name and values (``"service_chosen",
code="waon"``); :data:`PERSON_EVENTS` turns it into a flow event. After every
step the session becomes a *view*: a plain dict of what the screen of its state
shows, with every text looked up (service names, error messages and remedies),
so screens never import the flow, the catalog or the error table. UI effects
(wipe, the card-left-behind cue) run here; device effects go to the controller,
whose answers arrive on worker threads and are re-posted to the UI thread.

    >>> engine = UiSession(flow_context, controller)   # doctest: +SKIP
    >>> KioskApp(settings, engine).run()                # doctest: +SKIP
"""

from __future__ import annotations

import logging
import string
import time
from collections.abc import Callable
from typing import Any

from kiosk import errors_table, flow
from kiosk.i18n import t
from screens.keyboard import normalise_for_search
from screens.ui_thread import on_ui_thread

log = logging.getLogger("kiosk.ui")

#: What a screen reports -> the flow event it means.
PERSON_EVENTS: dict[str, Callable[..., Any]] = {
    "choose_language": flow.ChooseLanguage,
    "start": flow.Start,
    "set_legal_representative": flow.SetLegalRepresentative,
    "agree_terms": flow.AgreeTerms,
    "back": flow.Back,
    "cancel": flow.Cancel,
    "done": flow.Done,
    "still_here": flow.StillHere,
    "service_chosen": flow.ServiceChosen,
    "ids_entered": flow.IdsEntered,
    "confirmed": flow.Confirmed,
    "pin_entered": flow.PinEntered,
}
#: Effects the UI runs itself; every other effect goes to the controller.
UI_EFFECTS = (flow.Wipe, flow.CueCardLeftBehind, flow.StartIdleTimer, flow.StopIdleTimer)
#: The staff screen closes itself after this long without a touch (a staff member walked away).
STAFF_IDLE_SECONDS = 60.0
KEY_CANDIDATES = string.digits + string.ascii_uppercase + string.ascii_lowercase + "-"


def allowed_characters(rule: Any) -> str:
    """The keys to offer for a field: the characters its pattern accepts."""
    length = max(1, rule.min_length)
    keys = "".join(c for c in KEY_CANDIDATES if rule.charset.fullmatch(c * length))
    return keys or string.digits + string.ascii_uppercase


def field_views(service: Any) -> list[dict[str, Any]]:
    """The typed-in fields of a service: the ID, then each security code (masked)."""
    rules = [("service_user_id", service.id_rule, False)]
    rules += [(f"security_code_{n}", r, True) for n, r in enumerate(service.code_rules, 1)]
    return [
        {
            "name": name,
            "label": rule.label,
            "min_length": rule.min_length,
            "max_length": rule.max_length,
            "allowed": allowed_characters(rule),
            "masked": masked,
        }
        for name, rule, masked in rules
    ]


def notice_text(notice_key: str | None, lang: str) -> str:
    """A service's notice (a prerequisite) in ``lang``; "" when it has none or central's
    catalog names one this kiosk has no text for (the hint still says where the ID is)."""
    if not notice_key:
        return ""
    try:
        return t(f"services.notice.{notice_key}", lang)
    except KeyError:
        log.warning("no text for service notice %r", notice_key)
        return ""


class UiSession:
    """One kiosk's sessions, one after the other: owns the flow, drives the app's screens."""

    def __init__(
        self,
        context: Callable[[], flow.FlowContext],
        controller: Any = None,
        *,
        receipt_view: Callable[[Any, str], dict[str, Any]] | None = None,
        staff_view: Callable[[], dict[str, Any]] | None = None,
        keys: dict[int, Callable[[], None]] | None = None,
    ) -> None:
        self.context = context
        self.flow = flow.Flow(context)
        self.controller = controller
        self.receipt_view = receipt_view
        self.staff_view = staff_view
        self.keys = keys or {}
        self.app: Any = None
        self.staff_open = False
        self._staff_touched_at = 0.0
        self._farewell_lang: str | None = None  # "take your card" in the leaving person's language
        self._last_view: tuple[str, dict[str, Any]] | None = None
        self.events_seen = 0

    # --- wiring ---------------------------------------------------------------------
    def attach(self, app: Any) -> None:
        self.app = app
        if self.controller is not None:
            self.controller.start(self.device_event)
        self.render()

    def detach(self) -> None:
        if self.controller is not None:
            self.controller.stop()

    @property
    def session(self) -> flow.Session:
        return self.flow.session

    @property
    def catalog(self) -> Any:
        return self.context().catalog

    # --- events in ----------------------------------------------------------------------
    def person(self, name: str, **data: Any) -> None:
        """A touch on a screen (UI thread)."""
        self._staff_touched_at = time.monotonic()
        if name.startswith("staff") or name == "open_staff":
            self._staff(name)
            return
        factory = PERSON_EVENTS.get(name)
        if factory is None:
            raise ValueError(f"no person event {name!r}; known: {sorted(PERSON_EVENTS)}")
        self.dispatch(factory(**data))

    @on_ui_thread
    def device_event(self, event: Any) -> None:
        """An answer from a device worker or the network (any thread; runs on the UI thread)."""
        self.dispatch(event)

    def tick(self) -> None:
        if self.staff_open and time.monotonic() - self._staff_touched_at > STAFF_IDLE_SECONDS:
            self._staff("staff_closed")
        self.dispatch(flow.Tick())

    def on_key(self, key: int) -> bool:
        action = self.keys.get(key)
        if action is None:
            return False
        action()
        return True

    def dispatch(self, event: Any) -> None:
        self.events_seen += 1
        leaving_lang = self.session.lang
        if isinstance(event, flow.ChooseLanguage):
            self._farewell_lang = None
        effects = self.flow.dispatch(event)
        if any(isinstance(effect, flow.Wipe) for effect in effects):
            self._farewell_lang = leaving_lang
        if self.session.state != flow.TAKE_CARD:
            self._farewell_lang = None
        for effect in effects:
            if isinstance(effect, UI_EFFECTS):
                self._run_ui_effect(effect)
            elif self.controller is not None:
                self.controller.execute(effect)
        self.render()

    def _run_ui_effect(self, effect: Any) -> None:
        if isinstance(effect, flow.Wipe):
            self._last_view = None
            self.app.wipe_screens()
            log.info("session ended: %s", effect.reason)
        elif isinstance(effect, flow.CueCardLeftBehind):
            self.app.cue_card_left_behind()

    # --- views out --------------------------------------------------------------------
    def render(self) -> None:
        if self.app is None or self.staff_open:
            return
        session = self.session
        view = self.view_of(session)
        if self._last_view == (session.state, view):
            return
        self._last_view = (session.state, view)
        self.app.show(session.state, view)

    def view_of(self, session: flow.Session) -> dict[str, Any]:
        """What the screen of ``session.state`` shows: plain values, every text looked up."""
        lang = self._farewell_lang or session.lang
        view: dict[str, Any] = {
            "state": session.state,
            "lang": lang,
            "online": session.online,
            "notice": session.notice,
            "countdown": session.countdown,
            "legal_representative": session.legal_representative,
            "tries_left": session.tries_left,
            "last_try": session.last_try,
            "input_error": session.input_error,
            "input_error_field": session.input_error_field,
            "processing_phase": session.processing_phase,
            "result": session.result,
            "mykey_id": session.mykey_id,
            "masked_user_id": session.masked_user_id,
            "receipt_printing": session.receipt_printing,
            "receipt_on_screen": session.receipt_on_screen,
            "card_left_behind": session.card_left_behind,
            "error_next": session.error_next,
        }
        if session.input_error:
            text = errors_table.describe(session.input_error, lang)
            view["input_error_text"] = f"{text.title}\n{text.remedy}"
        view.update(self._campaign_view(session, lang))
        if session.state == flow.CHOOSE_SERVICE:
            view["services"] = self._services_view(lang)
        if session.service_code:
            view["service"] = self._service_view(session.service_code, lang)
        if session.result == flow.RESULT_REJECTED:
            text = errors_table.describe(session.rejection_kind, lang)
            view["rejection_message"], view["rejection_remedy"] = text.message, text.remedy
        if session.state == flow.ERROR:
            text = errors_table.describe(session.error_kind, lang)
            view["error_message"], view["error_remedy"] = (
                text.title,
                f"{text.message}\n{text.remedy}",
            )
        if session.status_info is not None:
            view.update(self._status_view(session.status_info, lang))
        if session.receipt_on_screen and session.receipt is not None and self.receipt_view:
            view.update(self.receipt_view(session.receipt, lang))
        return view

    def _campaign_view(self, session: flow.Session, lang: str) -> dict[str, Any]:
        view: dict[str, Any] = {}
        campaigns = {c.id: c for c in self.catalog.campaigns}
        open_now = campaigns.get(session.campaign_id or "")
        if open_now is None:
            today_open = self.catalog.open_campaigns(self.context().today)
            open_now = today_open[0] if today_open else None
        if open_now is not None:
            view["campaign_name"] = open_now.name(lang)
        closed = campaigns.get(session.closed_campaign_id or "")
        if session.state == flow.CAMPAIGN_CLOSED and closed is not None:
            view["closed_campaign_name"] = closed.name(lang)
            view["closed_campaign_starts"] = closed.starts.isoformat()
            view["closed_campaign_ends"] = closed.ends.isoformat()
        return view

    def _services_view(self, lang: str) -> list[dict[str, Any]]:
        return [
            {
                "code": s.code,
                "name": s.name(lang),
                "category": s.category,
                "points_on": s.points_on,
                "kiosk_allowed": s.kiosk_allowed,
                "search": normalise_for_search(f"{s.name_ja} {s.name_en} {s.reading}"),
            }
            for s in self.catalog.services()
        ]

    def _service_view(self, code: str, lang: str) -> dict[str, Any]:
        try:
            service = self.catalog.service(code)
        except KeyError:
            return {"code": code, "name": code, "fields": [], "codes": 0}
        return {
            "code": code,
            "name": service.name(lang),
            "hint_key": service.hint_key,
            "notice_text": notice_text(service.notice_key, lang),
            "fields": field_views(service),
            "codes": len(service.code_rules),
        }

    def _status_view(self, info: Any, lang: str) -> dict[str, Any]:
        name = ""
        if info.service_code:
            name = self._service_view(info.service_code, lang)["name"]
        return {
            "status_applied": info.applied,
            "status_service": name,
            "status_mykey_id": info.mykey_id or "",
        }

    # --- staff ------------------------------------------------------------------------
    def _staff(self, name: str) -> None:
        if name == "open_staff":
            if self.session.state != flow.WELCOME:
                return
            self.staff_open = True
            self.app.show("staff", {"lang": self.session.lang})
        elif name == "staff_unlocked":
            info = self.staff_view() if self.staff_view else {}
            self.app.show("staff", {"lang": self.session.lang, **info})
        elif name == "staff_test_print" and self.controller is not None:
            self.controller.test_print()
        elif name == "staff_closed" and self.staff_open:
            self.staff_open = False
            self.app.screen("staff").wipe()
            self._last_view = None
            self.render()


def receipt_view_for(controller: Any) -> Callable[[Any, str], dict[str, Any]]:
    """The on-screen receipt (when the printer failed): the paper receipt drawn as an image."""

    def receipt_view(facts: Any, lang: str) -> dict[str, Any]:
        try:
            image = controller.receipt_image(facts, lang)
        except Exception:  # the lines below still carry what the person needs
            log.exception("receipt image failed")
            image = None
        data = controller.receipt_data(facts, lang)
        lines = [
            f"{t('screens.receipt.number', lang)}  {data.receipt_no}",
            f"{t('screens.confirm.service', lang)}  {data.service_name}",
            f"{t('screens.confirm.user_id', lang)}  {data.service_user_id}",
        ]
        if data.mykey_id:
            lines.append(f"{t('screens.result.mykey_id', lang)}  {data.mykey_id}")
        return {"receipt_image": image, "receipt_lines": lines, "receipt_qr": data.status_url}

    return receipt_view


def staff_view_for(controller: Any) -> Callable[[], dict[str, Any]]:
    """Queue counts, the oldest pending age, printer and reader: nothing of any person."""

    def staff_view() -> dict[str, Any]:
        info = controller.staff_status()
        counts = info.get("queue_counts") or {}
        return {
            "pending": counts.get("pending", 0) + counts.get("sending", 0),
            "delivered": counts.get("accepted", 0),
            "failed": counts.get("rejected", 0) + counts.get("dead", 0),
            "oldest_pending": describe_duration(info.get("oldest_pending_age_s")),
            "printer": info.get("printer_problem") or "OK",
            "reader": "OK" if info.get("reader_available") else "-",
            "last_sync": info.get("last_sync_error") or "-",
        }

    return staff_view


def describe_duration(seconds: float | None) -> str:
    """A short age for the staff screen: 45 s, 12 min, 3 h."""
    if seconds is None:
        return "-"
    if seconds < 120:
        return f"{int(seconds)} s"
    if seconds < 7200:
        return f"{int(seconds // 60)} min"
    return f"{int(seconds // 3600)} h"
