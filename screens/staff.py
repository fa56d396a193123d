"""Staff: behind five taps on the store name and the staff PIN from configuration.

Shows queue counts and the oldest pending enrollment, printer and reader
status and the version, and runs a test print. Nothing of any person is shown.
"""

from __future__ import annotations

from kivy.properties import BooleanProperty

import screens.keypad  # noqa: F401  (its widgets and rules, used in the .kv)
from kiosk import staff
from screens.base import KioskScreen


class StaffScreen(KioskScreen):
    """First the staff PIN (4 to 8 digits), then the kiosk's health."""

    unlocked = BooleanProperty(False)

    def check_pin(self) -> None:
        answer = self.ids.keypad.check(self.app.settings.staff_gate.check)
        if answer == staff.OPEN:
            self.unlocked = True
            self.send("staff_unlocked")
        else:  # wrong, or locked after too many wrong ones (kiosk/staff.py)
            self.ids.pin_message.text = self.tr(f"staff.{answer}_pin")

    def show_resent(self, count: int) -> None:
        """How many refused-for-server-reasons rows went back to the queue."""
        self.ids.resend_message.text = self.tr("staff.resent", count=count)

    def close(self) -> None:
        self.unlocked = False
        self.ids.keypad.wipe()
        self.ids.pin_message.text = ""
        self.ids.resend_message.text = ""
        self.send("staff_closed")

    def on_wipe(self) -> None:
        self.unlocked = False


SCREEN = StaffScreen
