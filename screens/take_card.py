"""Take your card: stays until the card is removed; flashes and beeps if it is left behind."""

from __future__ import annotations

from typing import Any

from kivy.clock import Clock
from kivy.properties import BooleanProperty

from screens.base import KioskScreen

FLASH_SECONDS = 0.6


class TakeCardScreen(KioskScreen):
    """One sentence, a picture of the card; no button: removing the card is the next step."""

    flash = BooleanProperty(False)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._flashing = None

    def on_show(self) -> None:
        if self.view.get("card_left_behind") and self._flashing is None:
            self._flashing = Clock.schedule_interval(self._toggle, FLASH_SECONDS)

    def _toggle(self, _dt: float) -> None:
        self.flash = not self.flash

    def on_hide(self) -> None:
        if self._flashing is not None:
            self._flashing.cancel()
            self._flashing = None
        self.flash = False


SCREEN = TakeCardScreen
