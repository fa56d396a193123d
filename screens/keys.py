"""The physical keypad on the screens: actions of ``kiosk.keypad`` become button presses.

Up/down move a focus highlight through the visible buttons in reading order (top to
bottom, left to right); Enter presses the focused button, or the screen's main one when
nothing has the focus; digits press the PIN keypad's or the ID keyboard's keys; Clear
deletes one character; Cancel ends the procedure; '*' opens the language picker; '#'
turns large text and high contrast on and off. Everything goes through the buttons a
touch would press, so touch and keys mix freely, and a keypad that is unplugged
mid-session leaves nothing behind but a highlight: the session is in the flow. The first
key of a session turns on the longer time limits of the accessibility modes
(``flow.LongerTimes``), as large text does, without changing the screen.
"""

from __future__ import annotations

from typing import Any

from kivy.uix.widget import Widget

from kiosk import keypad


def _visible(widget: Widget) -> bool:
    node: Any = widget
    while node is not None and node.parent is not node:
        if getattr(node, "opacity", 1) == 0 or getattr(node, "disabled", False):
            return False
        node = node.parent
    return widget.width > 1 and widget.height > 1


class KeypadDriver:
    """Owns the focus; ``app`` is the KioskApp (its root, ``manager``, ``send``)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.focused: Widget | None = None
        self.keys_seen = 0

    # --- the buttons on screen --------------------------------------------------------------
    def buttons(self) -> list[Widget]:
        """Visible buttons in reading order: the picker's alone while it is open."""
        root = self.app.root
        if self.app.picking_language:
            root = root.ids.language_picker
        found = [
            w
            for w in root.walk(restrict=True)
            if isinstance(getattr(w, "action", None), str) and w.action and _visible(w)
        ]

        def place(w: Widget) -> tuple[float, float]:
            x, y = w.to_window(w.x, w.y)
            return (-round(y + w.height), round(x))

        return sorted(found, key=place)

    def button(self, action: str) -> Widget | None:
        return next((b for b in self.buttons() if b.action == action), None)

    # --- keys in ------------------------------------------------------------------------
    def on_key_down(
        self, _window: Any, key: int, _scancode: int, codepoint: Any, modifiers: Any = (), *_: Any
    ) -> bool:
        text = codepoint if isinstance(codepoint, str) else None
        action = keypad.action_for(key, text, modifiers or ())
        if action is None:
            return False
        self.keys_seen += 1
        if not self.app.longer_times:  # a person on the keypad gets the longer limits (issue 10)
            self.app.longer_times = True
            self.app.send("longer_times", reason="keypad")
        self.app.touched()  # a key is activity, as a touch is
        self.act(action)
        return True

    def act(self, action: str) -> None:
        if action in (keypad.UP, keypad.DOWN):
            self.move(-1 if action == keypad.UP else 1)
        elif action == keypad.ENTER:
            target = self.focused if self._still_there(self.focused) else None
            target = target or self._first(keypad.ENTER_BUTTONS)
            self.press(target)
        elif action in keypad.DIGITS:
            self.press(self._first(tuple(a.format(action) for a in keypad.DIGIT_BUTTONS)))
        elif action == keypad.CLEAR:
            self.press(self._first(keypad.CLEAR_BUTTONS))
        elif action == keypad.CANCEL:
            if self.app.picking_language:
                self.app.picking_language = False
            else:
                self.app.send("cancel")
        elif action == keypad.STAR:
            self.app.toggle_language()
        elif action == keypad.HASH:
            self.app.toggle_assist()

    def move(self, step: int) -> None:
        buttons = self.buttons()
        if not buttons:
            return
        if self.focused in buttons:
            index = (buttons.index(self.focused) + step) % len(buttons)
        else:
            index = 0 if step > 0 else len(buttons) - 1
        self.focus(buttons[index])

    def focus(self, widget: Widget | None) -> None:
        self.focused = widget
        self.app.focus_action = widget.action if widget is not None else ""
        self.app.update_focus_ring(widget)

    def press(self, widget: Widget | None) -> None:
        if widget is not None:
            widget.trigger_action(duration=0)

    def screen_changed(self) -> None:
        """A new screen: nothing has the focus (Enter presses its main button)."""
        self.focus(None)

    def _first(self, actions: tuple[str, ...]) -> Widget | None:
        buttons = {b.action: b for b in self.buttons()}
        return next((buttons[a] for a in actions if a in buttons), None)

    def _still_there(self, widget: Widget | None) -> bool:
        return widget is not None and widget in self.buttons()
