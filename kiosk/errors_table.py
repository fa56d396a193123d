"""The one table from an error kind to what the person is told: title, message, remedy.

The texts live in ``kiosk/locales/<lang>/errors.toml`` (a section per kind); this module
only looks them up, with ``unexpected`` for a kind the table does not know, so a new
error can never show a blank screen.

    >>> describe("pin_blocked", "en").remedy
    'Please have the PIN reset at your municipal office, with photo ID.'
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from contract.errors import KioskError
from kiosk.i18n import catalog

FALLBACK_KIND = "unexpected"
#: Modules whose KioskError subclasses can reach the person (central's stay on the server).
ERROR_MODULES = (
    "drivers.card",
    "drivers.certs",
    "drivers.printer_status",
    "offline_queue.errors",
    "kiosk.receipt",
    "kiosk.catalog",
    "kiosk.config",
    "kiosk.controller",
    "kiosk.clock_check",
    "kiosk.storage",
)


@dataclass(frozen=True)
class ErrorText:
    kind: str  # the kind the texts belong to (FALLBACK_KIND when unknown)
    title: str
    message: str
    remedy: str


def known(kind: str, lang: str = "ja") -> bool:
    return f"errors.{kind}.title" in catalog(lang)


def describe(kind: str | None, lang: str = "ja") -> ErrorText:
    """Title, message and remedy of an error kind, in ``lang`` (Japanese as fallback)."""
    kind = kind if kind and known(kind, "ja") else FALLBACK_KIND
    texts = catalog(lang) if known(kind, lang) else catalog("ja")
    return ErrorText(
        kind,
        texts[f"errors.{kind}.title"],
        texts[f"errors.{kind}.message"],
        texts[f"errors.{kind}.remedy"],
    )


def error_classes() -> list[type[KioskError]]:
    """KioskError and every subclass of it defined in ERROR_MODULES."""
    for name in ERROR_MODULES:
        importlib.import_module(name)
    found: list[type[KioskError]] = []
    pending = [KioskError]
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        if cls.__module__ in ERROR_MODULES or cls is KioskError:
            found.append(cls)
    return found


def raised_kinds() -> set[str]:
    """Every ``kind`` of a KioskError subclass defined in ERROR_MODULES."""
    return {cls.kind for cls in error_classes()}
