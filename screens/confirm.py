"""Confirm: the service and ID as entered (code masked); the choice cannot be changed."""

from screens.base import KioskScreen


class ConfirmScreen(KioskScreen):
    """What will be sent, and the warning that comes before the PIN."""


SCREEN = ConfirmScreen
