"""Error: the message and remedy of a typed error (one table: ``errors.<kind>``)."""

from screens.base import KioskScreen


class ErrorScreen(KioskScreen):
    """What went wrong, what to do, and one button (try the card again, or finish)."""


SCREEN = ErrorScreen
