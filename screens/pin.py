"""PIN: the card's 4-digit user-authentication PIN on a keypad, shown as four dots.

Tries left are always shown; the last try gets a strong warning. The digits are
handed over in the keypad's buffer (the card driver zeroes it after VERIFY).
"""

import screens.keypad  # noqa: F401  (its widgets and rules, used in the .kv)
from screens.base import KioskScreen


class PinScreen(KioskScreen):
    """Keypad on the right, what is at stake on the left."""

    def submit(self) -> None:
        keypad = self.ids.keypad
        if keypad.complete:
            self.send("pin_entered", pin=keypad.hand_over())

    def on_show(self) -> None:
        if self.view.get("input_error"):
            self.ids.keypad.wipe()

    def on_kv_post(self, base_widget: object) -> None:
        self.ids.keypad.bind(filled=self._filled)

    def _filled(self, _keypad: object, filled: float) -> None:
        """Spoken guidance says how many digits are in, never which (docs/speech.md)."""
        self.app.digits_entered(int(filled))


SCREEN = PinScreen
