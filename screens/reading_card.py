"""Reading card: the certificate is being read and checked; hold the card still."""

from screens.base import KioskScreen


class ReadingCardScreen(KioskScreen):
    """A spinner while the card worker reads; nothing to touch."""

    def on_enter(self, *args: object) -> None:
        self.ids.spinner.start()

    def on_hide(self) -> None:
        self.ids.spinner.stop()


SCREEN = ReadingCardScreen
