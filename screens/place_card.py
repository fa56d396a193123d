"""Place card: a picture of the card on the reader; the reader's event moves on."""

from screens.base import KioskScreen


class PlaceCardScreen(KioskScreen):
    """Nothing to touch but "back": placing the card is the next step."""


SCREEN = PlaceCardScreen
