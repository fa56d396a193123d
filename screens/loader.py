"""Screens are imported, with their ``.kv`` rules, only when first needed.

Each screen is ``screens/<name>.py`` (its class is the module's ``SCREEN``)
beside ``screens/<name>.kv``; the welcome screen loads at start-up, the rest on
their first visit, which keeps cold start short.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from kivy.lang import Builder

from kiosk import flow
from screens.base import KioskScreen

SCREENS_DIR = Path(__file__).parent
#: Every screen: one per flow state (the flow's list is the one truth), and the staff screen.
SCREEN_NAMES = (*flow.STATES, "staff")
_loaded_rules: set[str] = set()


def load_screen(name: str) -> KioskScreen:
    """A new instance of screen ``name``, its module and rules loaded on first use."""
    if name not in SCREEN_NAMES:
        raise ValueError(f"no screen {name!r}; screens are {SCREEN_NAMES}")
    module = importlib.import_module(f"screens.{name}")
    if name not in _loaded_rules:
        Builder.load_file(str(SCREENS_DIR / f"{name}.kv"))
        _loaded_rules.add(name)
    return module.SCREEN(name=name)
