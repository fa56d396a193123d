"""Welcome: choose the language, then apply (申込) or check the status (申込状況の確認)."""

from screens.base import KioskScreen


class WelcomeScreen(KioskScreen):
    """The first screen; the previous session's end is mentioned, never its content."""

    def start(self, menu: str) -> None:
        self.send("start", menu=menu)

    def choose_language(self, lang: str) -> None:
        self.send("choose_language", lang=lang)


SCREEN = WelcomeScreen
