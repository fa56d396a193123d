"""Result: accepted (with the MyKey ID), pending (stored, sent later) or rejected (remedy)."""

from screens.base import KioskScreen


class ResultScreen(KioskScreen):
    """The outcome in one sentence, and one button on to the receipt."""


SCREEN = ResultScreen
