"""Widgets every screen is built from: big buttons, titles, body text, the header.

Every actionable widget is a :class:`KButton` with an ``action`` name
(``"next"``, ``"service:paypay"``, ``"key:A"``...): the screens react to it, and
the autopilot and the tests find what to touch by it, through Kivy's input path.
Their look lives in ``widgets.kv``; all sizes are in ``app.u`` (see ``theme``).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from kivy.app import App
from kivy.clock import Clock
from kivy.lang import Builder
from kivy.properties import BooleanProperty, NumericProperty, OptionProperty, StringProperty
from kivy.uix.behaviors import ButtonBehavior
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.label import Label
from kivy.uix.widget import Widget

#: Taps on the brand name, within STAFF_GESTURE_SECONDS, that open the staff screen.
STAFF_GESTURE_TAPS = 5
STAFF_GESTURE_SECONDS = 4.0


class HiddenIgnoresTouch:
    """Mixin: while transparent (hidden), neither this widget nor its children take touches.

    Kivy lets a disabled widget swallow touches on its area, and children of a
    collapsed (zero-height) box still lie where the visible widgets are.
    """

    def on_touch_down(self, touch: Any) -> bool:
        return False if self.opacity == 0 else super().on_touch_down(touch)

    def on_touch_move(self, touch: Any) -> bool:
        return False if self.opacity == 0 else super().on_touch_move(touch)

    def on_touch_up(self, touch: Any) -> bool:
        return False if self.opacity == 0 else super().on_touch_up(touch)


class HideableBox(HiddenIgnoresTouch, BoxLayout):
    """A box that can be hidden (opacity 0, height 0) without blocking what is behind it."""


class KButton(ButtonBehavior, Label):
    """A large touch target; ``role`` picks its colours, ``action`` names what it does."""

    role = OptionProperty("primary", options=["primary", "secondary", "choice", "danger", "key"])
    action = StringProperty("")
    selected = BooleanProperty(False)
    #: Share of the font size the label uses: below 1 only while the text (large text
    #: mode, a long translation) would not fit the button; never below MIN_FIT.
    fit = NumericProperty(1.0)
    MIN_FIT = 0.6

    def on_text(self, *_: Any) -> None:
        self.fit = 1.0

    def on_size(self, *_: Any) -> None:
        self.fit = 1.0

    def on_texture_size(self, _widget: Any, size: Any) -> None:
        too_big = size[0] > self.width + 1 or size[1] > self.height + 1
        if too_big and self.fit > self.MIN_FIT and self.width > 1 and self.height > 1:
            self.fit = max(self.MIN_FIT, self.fit * 0.92)

    def on_release(self) -> None:
        """Every accepted touch clicks (``screens/sound.py``); the kv rule does the rest."""
        app = App.get_running_app()
        if app is not None and hasattr(app, "cue"):
            app.cue("accept")


class Title(Label):
    """The one sentence that says what this screen is for."""


class Body(Label):
    """Wrapped body text that grows downwards with its content."""


class Hint(Body):
    """Secondary, smaller wrapped text (where a code is printed, what happens next)."""


class WarningBox(HiddenIgnoresTouch, BoxLayout):
    """Red-bordered box for what must not be missed (last PIN try, no changes later)."""

    text = StringProperty("")


class BusySpinner(Widget):
    """A turning arc that shows the kiosk is working (card signing, sending)."""

    angle = NumericProperty(0)

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self._event = None

    def start(self) -> None:
        if self._event is None:
            self._event = Clock.schedule_interval(self._turn, 1 / 20)

    def stop(self) -> None:
        if self._event is not None:
            self._event.cancel()
            self._event = None

    def _turn(self, _dt: float) -> None:
        self.angle = (self.angle + 18) % 360


class BrandLabel(ButtonBehavior, Label):
    """The store's name in the header; five quick taps on it open the staff screen."""

    action = StringProperty("brand")

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self._taps: list[float] = []

    def on_release(self) -> None:
        now = time.monotonic()
        self._taps = [t for t in self._taps if now - t < STAFF_GESTURE_SECONDS] + [now]
        if len(self._taps) >= STAFF_GESTURE_TAPS:
            self._taps.clear()
            App.get_running_app().open_staff()


class Header(BoxLayout):
    """Store name on the left, the language switch on the right."""

    show_language = BooleanProperty(True)
    show_speech = BooleanProperty(True)  # the speech controls' button (not on the staff screen)


class Footer(HiddenIgnoresTouch, BoxLayout):
    """The row of the screen's buttons: going back on the left, going on at the right."""


Builder.load_file(str(Path(__file__).with_suffix(".kv")))


class LanguagePicker(HiddenIgnoresTouch, BoxLayout):
    """Every language the kiosk speaks, each named in its own script (issue 10).

    Over every screen (``app.kv``) while ``app.picking_language``; a button's action is
    ``lang:<code>``. Built once: the names never change with the session's language.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        Clock.schedule_once(self._fill, 0)

    def _fill(self, _dt: float) -> None:
        from kiosk import i18n

        app = App.get_running_app()
        grid = self.ids.grid
        for code in i18n.LANGUAGES:
            button = KButton(action=f"lang:{code}", role="choice", text=i18n.language_name(code))
            button.bind(on_release=lambda _b, c=code: app.pick_language(c))
            grid.add_widget(button)
