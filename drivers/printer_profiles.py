"""Printer profiles: columns, dots, code systems and cutter of the models stores have.

The data is ``drivers/data/printer_profiles.toml`` (with its sources); this module reads
it and answers the two questions the kiosk's configuration asks: which columns and
mode a model prints with, and whether the kiosk can speak to it at all. Pure (no port).

    >>> profile = PROFILES["epson-tm-t20"]
    >>> profile.columns_font_a, profile.dots_per_line, profile.default_mode
    (48, 576, 'kanji')

Star printers speak two languages. In ESC/POS emulation (a memory switch, or Star's
configuration utility) they take the kiosk's bytes as Epson printers do: profile
``star-escpos``. In their native **Star Line Mode** the same bytes mean other things:
Kanji is selected by ``ESC p`` / ``ESC $`` rather than ``FS &`` / ``FS C``, ``ESC a n``
feeds n lines instead of setting the justification, and raster and cut commands
differ. The kiosk does not speak Star Line Mode: profile ``star-line-mode`` exists so
that choosing it gives a clear configuration error rather than a garbled receipt.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from drivers import escpos

DATA = Path(__file__).with_name("data") / "printer_profiles.toml"
ESCPOS = "esc/pos"
STAR_LINE = "star-line"


class UnsupportedPrinter(ValueError):
    """A profile the kiosk cannot print on (another command language)."""


@dataclass(frozen=True)
class PrinterProfile:
    id: str
    name: str
    models: tuple[str, ...]
    dpi: int
    dots_per_line: int
    columns_font_a: int
    columns_font_b: int
    kanji: bool
    code_systems: tuple[str, ...]
    international_default: str
    cutter: str
    command_language: str
    escpos_db_sibling: str | None = None
    note: str = ""

    @property
    def default_mode(self) -> str:
        """ "kanji" on a model with a Kanji ROM, else "raster" (text drawn as bitmaps)."""
        return "kanji" if self.kanji else "raster"

    @property
    def max_columns(self) -> int:
        """The most Font A columns the printable width holds (12 dots each)."""
        return min(self.columns_font_a, self.dots_per_line // escpos.DOTS_PER_COLUMN)

    def check_supported(self) -> None:
        if self.command_language != ESCPOS:
            raise UnsupportedPrinter(
                f"{self.name} speaks Star Line Mode, not ESC/POS (Kanji by ESC p / ESC $, "
                "ESC a n feeds n lines): switch the printer to ESC/POS emulation and use "
                "profile 'star-escpos'"
            )

    def check_mode(self, mode: str) -> None:
        if mode == "kanji" and not self.kanji:
            raise UnsupportedPrinter(f'{self.name} has no Kanji ROM: use mode "raster"')


def load_profiles(path: Path = DATA) -> dict[str, PrinterProfile]:
    with path.open("rb") as file:
        doc = tomllib.load(file)
    profiles = {}
    for key, entry in doc.items():
        entry = dict(entry)
        entry["models"] = tuple(entry["models"])
        entry["code_systems"] = tuple(entry["code_systems"])
        profiles[key] = PrinterProfile(id=key, **entry)
    return profiles


PROFILES = load_profiles()
