"""A kiosk without a window, for tests and benchmarks: the flow and the controller with real parts.

:class:`KioskUnderTest` plays the UI: it owns the flow, runs device effects through
the controller and feeds the devices' answers back. :class:`EventLog` collects the
card service's events from its worker thread and waits for them.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from kiosk import flow, procedures, views
from kiosk.catalog import Catalog
from kiosk.controller import Controller

PIN = b"1234"


class EventLog:
    """Collects CardService events (from its worker thread) and waits for them."""

    def __init__(self) -> None:
        self.events: list[str] = []
        self._cond = threading.Condition()

    def __call__(self, event: str) -> None:
        with self._cond:
            self.events.append(event)
            self._cond.notify_all()

    def wait_for(self, event: str, timeout: float = 10.0, after: int = 0) -> None:
        """Wait until ``event`` appears at index >= ``after``."""
        with self._cond:
            ok = self._cond.wait_for(lambda: event in self.events[after:], timeout)
        if not ok:
            raise TimeoutError(f"no {event!r} event; got {self.events}")

    def mark(self) -> int:
        """A position to pass as ``after`` to wait for events that come later."""
        with self._cond:
            return len(self.events)


class KioskUnderTest:
    """Plays the UI: owns the flow, runs device effects through the controller."""

    def __init__(self, controller: Controller, kiosk_id: str, catalog: Catalog) -> None:
        self.controller = controller
        self.answers: queue.Queue[Any] = queue.Queue()
        self.posting_threads: set[str] = set()
        self.wipes: list[flow.Wipe] = []
        self.effects: list[Any] = []
        self._answered: dict[type, Future[Any]] = {}  # the last effect of each type
        self.flow = flow.Flow(
            lambda: flow.FlowContext(
                kiosk_id=kiosk_id,
                catalog=catalog,
                now=time.monotonic(),
                today=dt.date.today(),
                idle_seconds=600,
                procedures=procedures.default(),
            )
        )
        controller.start(self._post)

    def _post(self, event: Any) -> None:
        self.posting_threads.add(threading.current_thread().name)
        self.answers.put(event)

    @property
    def session(self) -> flow.Session:
        return self.flow.session

    def view(self, lang: str | None = None) -> dict[str, Any]:
        """What the screen would show for the current session (``lang``: another language)."""
        session = self.session if lang is None else dataclasses.replace(self.session, lang=lang)
        return views.view_of(session, self.flow._context())

    def send(self, *events: Any) -> None:
        for event in events:
            for effect in self.flow.dispatch(event):
                self.effects.append(effect)
                if isinstance(effect, flow.Wipe):
                    self.wipes.append(effect)
                elif not isinstance(effect, views.UI_EFFECTS):
                    posted = self.controller.execute(effect)
                    if posted is not None:
                        self._answered[type(effect)] = posted

    def answered(self, effect_type: type, timeout: float = 20.0) -> None:
        """Wait until the controller posted its answer to the last effect of ``effect_type``
        (a device that gave up, or finished), then feed the flow every answer posted so far:
        late ones for a session that has ended too, as the UI would."""
        self._answered[effect_type].result(timeout)
        while True:
            try:
                self.send(self.answers.get_nowait())
            except queue.Empty:
                return

    def wait_for(
        self, state: str, timeout: float = 20.0, until: Callable[[flow.Session], bool] | None = None
    ) -> flow.Session:
        """Feed the devices' answers to the flow until the session reaches ``state``."""
        deadline = time.monotonic() + timeout
        while not (self.session.state == state and (until is None or until(self.session))):
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"still {self.session.state}, waiting for {state}")
            try:
                self.send(self.answers.get(timeout=left))
            except queue.Empty:
                continue
        return self.session

    # the person
    def start_and_place_card(self, menu: str = flow.MENU_APPLY) -> flow.Session:
        self.send(flow.Start(menu=menu))
        if menu == flow.MENU_APPLY:
            self.send(flow.AgreeTerms())
        expected = flow.CHOOSE_SERVICE if menu == flow.MENU_APPLY else flow.PIN
        return self.wait_for(expected, until=lambda s: s.state != flow.READING_CARD)

    def enter(self, account: tuple[str, str, list[str]]) -> None:
        code, user_id, codes = account
        self.send(flow.ServiceChosen(code), flow.IdsEntered(user_id, tuple(codes)))
        self.send(flow.Confirmed())
        self.wait_for(flow.PIN, until=lambda s: s.tries_left is not None)

    def pin(self, digits: bytes = PIN) -> bytearray:
        buffer = bytearray(digits)
        self.send(flow.PinEntered(buffer))
        return buffer

    def enroll(self, account: tuple[str, str, list[str]]) -> flow.Session:
        self.start_and_place_card()
        self.enter(account)
        self.pin()
        return self.wait_for(flow.RESULT)
