"""Campaign closed: outside the campaign's dates its menu is closed, with a message."""

from screens.base import KioskScreen


class CampaignClosedScreen(KioskScreen):
    """Which campaign, its dates, and a button back."""


SCREEN = CampaignClosedScreen
