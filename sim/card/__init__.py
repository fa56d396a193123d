"""The virtual My Number Card.

| module | what |
|---|---|
| ``model.py`` | the card's logic, bytes in and bytes out: the APs, files, PIN counters |
| ``faults.py`` | one-shot faults (``pull@sign``, ``sw=6A82@select_ap``, ...) |
| ``directory.py`` | a card on disk: ``make_card``, its profile, its PIN counters |
| ``vpcd.py`` | ``VirtualCard``: the card in pcscd's vpcd reader |
| ``cli.py`` | ``mynapoint-vcard new|run|ctl`` (also ``python -m sim.card``) |
"""

from sim.card.directory import load_card, make_card
from sim.card.faults import Fault, FaultInjector
from sim.card.model import EF_MY_NUMBER, CardModel, CardProfile, PinCounters, step_of
from sim.card.vpcd import VPCD_DEFAULT_PORT, VirtualCard

__all__ = [
    "EF_MY_NUMBER",
    "VPCD_DEFAULT_PORT",
    "CardModel",
    "CardProfile",
    "Fault",
    "FaultInjector",
    "PinCounters",
    "VirtualCard",
    "load_card",
    "make_card",
    "step_of",
]
