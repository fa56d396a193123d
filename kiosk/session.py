"""The session engine between the screens and the flow: events in, views out.

The screens report a person's action as a name and values (``"service_chosen",
code="waon"``); :data:`kiosk.views.PERSON_EVENTS` turns it into a flow event. After
every step the session becomes a *view* (:mod:`kiosk.views`) and the app shows it
on the screen named after its state. UI effects (wipe, the card-left-behind cue)
run here; device effects go to the controller, whose answers arrive on worker
threads and are handed to the app's ``post`` to run on the UI thread. Pure: the
app is anything with ``show``, ``wipe_screens``, ``screen``, ``cue_card_left_behind``
and (optionally) ``post``, so the engine is tested without a window.

    >>> engine = UiSession(flow_context, controller)   # doctest: +SKIP
    >>> KioskApp(settings, engine).run()                # doctest: +SKIP
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from kiosk import flow, views

log = logging.getLogger("kiosk.ui")

#: The staff screen closes itself after this long without a touch (a staff member walked away).
STAFF_IDLE_SECONDS = 60.0


class UiSession:
    """One kiosk's sessions, one after the other: owns the flow, drives the app's screens."""

    def __init__(
        self,
        context: Callable[[], flow.FlowContext],
        controller: Any = None,
        *,
        receipt_view: Callable[[Any, str], dict[str, Any]] | None = None,
        staff_view: Callable[[], Future[dict[str, Any]]] | None = None,
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
        self._staff_asked = 0  # which staff figures the screen waits for
        self._farewell_lang: str | None = None  # "take your card" in the leaving person's language
        self._last_view: tuple[str, dict[str, Any]] | None = None
        self.events_seen = 0
        self.voices: Any = None  # kiosk.voice.VoiceCache: the prompts the app's speaker plays

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

    def read_back_text(self) -> str:
        """The 決済サービスID as entered, for the handset's read-back on the confirm screen
        (issue 10: a blind person checks the ID before applying). Only there; the speaker
        reads it in handset mode only, one character per clip, and never records it."""
        if self.session.state != flow.CONFIRM or self.session.procedure:
            return ""
        return bytes(self.session.service_user_id).decode("ascii", errors="replace")

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
        factory = views.PERSON_EVENTS.get(name)
        if factory is None:
            raise ValueError(f"no person event {name!r}; known: {sorted(views.PERSON_EVENTS)}")
        self.dispatch(factory(**data))

    def device_event(self, event: Any) -> None:
        """An answer from a device worker or the network (any thread): dispatched on the UI
        thread through the app's ``post`` (the screens' ``post_to_ui``), or at once when the
        app has none (a stand-in in tests)."""
        self._on_ui(self.dispatch, event)

    def _on_ui(self, call: Callable[..., None], *args: Any) -> None:
        post = getattr(self.app, "post", None)
        if post is None:
            call(*args)
        else:
            post(call, *args)

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
            if isinstance(effect, views.UI_EFFECTS):
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
        """The view of ``session`` as this engine would show it now."""
        return views.view_of(session, self.context(), self._farewell_lang, self.receipt_view)

    # --- staff ------------------------------------------------------------------------
    def _staff(self, name: str) -> None:
        if name == "open_staff":
            if self.session.state not in (flow.WELCOME, flow.MAINTENANCE):  # nobody's session
                return
            self.staff_open = True
            self.app.show("staff", {"lang": self.session.lang})
        elif name == "staff_unlocked":  # the screen shows "-" until its figures come
            self._staff_asked += 1
            if self.staff_view is not None:
                asked = self._staff_asked
                self.staff_view().add_done_callback(
                    lambda figures: self._on_ui(self._staff_figures_came, asked, figures)
                )
        elif name == "staff_test_print" and self.controller is not None:
            self.controller.test_print()
        elif name == "staff_resend_refused" and self.controller is not None:
            asked = self._staff_asked
            self.controller.resend_server_refused().add_done_callback(
                lambda resent: self._on_ui(self._staff_resent, asked, resent)
            )
        elif name == "staff_closed" and self.staff_open:
            self.staff_open = False
            self._staff_asked += 1  # figures still on their way are for nobody
            self.app.screen("staff").wipe()
            self._last_view = None
            self.render()

    def _staff_resent(self, asked: int, resent: Future[int]) -> None:
        """Rows refused for server-side reasons were sent back to pending: say how many."""
        if not self.staff_open or asked != self._staff_asked:
            return
        try:
            count = resent.result(timeout=0)
        except Exception as error:
            kind = getattr(error, "kind", type(error).__name__)
            log.warning("staff_resend_failed error=%s", kind)
            return
        self.app.screen("staff").show_resent(count)

    def _staff_figures_came(self, asked: int, figures: Future[dict[str, Any]]) -> None:
        """The staff figures, an event on the UI thread: shown if that screen still waits."""
        if not self.staff_open or asked != self._staff_asked:
            return
        try:
            info = figures.result(timeout=0)  # done: never waits
        except Exception as error:  # the screen keeps its "-"
            log.warning("staff_figures_failed error=%s", type(error).__name__)
            return
        self.app.show("staff", {"lang": self.session.lang, **info})
