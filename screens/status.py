"""Status (申込状況の確認): which service was chosen, and the MyKey ID; online only."""

from screens.base import KioskScreen


class StatusScreen(KioskScreen):
    """What the central service says about this card's application."""


SCREEN = StatusScreen
