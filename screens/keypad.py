"""The numeric keypad for the card's 4-digit PIN, shown as four dots.

The digits go into one ``bytearray`` and nowhere else (no Label ever holds
them). :meth:`PinKeypad.hand_over` gives that buffer away (the card driver
overwrites it right after VERIFY) and starts a fresh one; :meth:`wipe` zeroes
it. The keys are in telephone order with 訂正 (clear) and 1文字消す (backspace).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from kivy.lang import Builder
from kivy.properties import NumericProperty
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.gridlayout import GridLayout

from kiosk.flow import PIN_LENGTH
from screens.keyboard import BACKSPACE, CLEAR, KeyButton

T = TypeVar("T")

KEYPAD_ORDER = ("1", "2", "3", "4", "5", "6", "7", "8", "9", CLEAR, "0", BACKSPACE)


class PinDots(BoxLayout):
    """Four circles; the first ``filled`` are solid."""

    filled = NumericProperty(0)
    length = NumericProperty(PIN_LENGTH)


class PinKeypad(GridLayout):
    """Digits in, ``filled`` (how many) out; the digits themselves are never shown."""

    filled = NumericProperty(0)
    length = NumericProperty(PIN_LENGTH)

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self._pin = bytearray(int(self.length))
        for key in KEYPAD_ORDER:
            button = KeyButton(key=key, action=f"pin:{key}", role="key")
            button.bind(on_release=lambda b: self.press(b.key))
            self.add_widget(button)

    def press(self, key: str) -> None:
        """A digit, backspace or clear."""
        if key == BACKSPACE:
            if self.filled:
                self.filled -= 1
                self._pin[self.filled] = 0
        elif key == CLEAR:
            self.wipe()
        elif key.isdigit() and self.filled < self.length:
            self._pin[self.filled] = ord(key)
            self.filled += 1

    @property
    def complete(self) -> bool:
        return self.filled == self.length

    def hand_over(self) -> bytearray:
        """The PIN buffer, given away to be overwritten by its user; the keypad starts empty."""
        pin, self._pin = self._pin, bytearray(int(self.length))
        self.filled = 0
        return pin

    def on_length(self, _instance: object, length: float) -> None:
        self.wipe()
        self._pin = bytearray(int(length))

    def check(self, verify: Callable[[bytearray], T]) -> T:
        """Give the digits typed to ``verify`` (the staff PIN hash check), then zero them."""
        pin = bytearray(self._pin[: int(self.filled)])
        try:
            return verify(pin)
        finally:
            pin[:] = bytes(len(pin))
            self.wipe()

    def wipe(self) -> None:
        """Zero the digits typed so far."""
        for i in range(len(self._pin)):
            self._pin[i] = 0
        self.filled = 0


Builder.load_file(str(Path(__file__).with_suffix(".kv")))
