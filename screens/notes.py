"""Notes and terms: what to bring, that the choice is final; who is applying."""

from screens.base import KioskScreen


class NotesScreen(KioskScreen):
    """One question (for yourself, or for a child under 15) and one button to agree."""

    def set_representative(self, yes: bool) -> None:
        self.send("set_legal_representative", yes=yes)


SCREEN = NotesScreen
