"""Out of service: an operator took this kiosk out of service from the console."""

from screens.base import KioskScreen


class MaintenanceScreen(KioskScreen):
    """A message in the session's language; no button (nothing can be started)."""


SCREEN = MaintenanceScreen
