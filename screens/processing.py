"""Processing: the card signs, the kiosk verifies, stores and sends; the card stays put."""

from screens.base import KioskScreen


class ProcessingScreen(KioskScreen):
    """What is happening now (signing, verifying, saving, sending), and a spinner."""

    def on_enter(self, *args: object) -> None:
        self.ids.spinner.start()

    def on_hide(self) -> None:
        self.ids.spinner.stop()


SCREEN = ProcessingScreen
