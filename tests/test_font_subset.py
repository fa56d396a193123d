"""The CJK subset made at install, and the full font behind it (screens/font_subset.py).

Labels are set in Noto Sans CJK cut down to the kiosk's characters (a quarter of the
memory per open size); a character the subset lacks must still be drawn, from the full
Debian font. These tests draw text with Kivy's real SDL2_ttf text provider (no window
needed to render a label's pixels) and compare the pixels.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kiosk.i18n import LANGUAGES, catalog
from screens import theme

#: A rare kanji, a kanji outside the BMP, and plain words the catalogs hold.
RARE = "鷗外の𠮷野家"


@pytest.fixture(scope="module")
def installed() -> theme.CjkFonts:
    fonts = theme.cjk_fonts()
    if fonts.covered is None:
        pytest.skip(f"no CJK subset in {theme.SUBSET_DIR} (scripts/setup.sh makes it)")
    return fonts


def pixels(label_class: type, font: str, text: str, bold: bool = False) -> tuple[Any, bytes]:
    label = label_class(text=text, font_size=30, font_name=font, bold=bold)
    label.options["font_name_r"] = font
    size = label.get_extents(text)
    label._size = size
    label._render_begin()
    label._render_text(text, 0, 0)
    return size, bytes(label._render_end().data)


def test_every_catalog_character_is_in_the_subset(installed: theme.CjkFonts) -> None:
    """No catalog text needs the full font: the memory saving holds in every language."""
    scripts = {chr(x) for a, b, _ in theme.SCRIPT_FONTS for x in range(a, b + 1)}
    lacking: dict[str, set[str]] = {}
    for lang in LANGUAGES:
        for text in catalog(lang).values():
            gone = {
                c
                for c in text
                if c not in installed.covered
                and c not in scripts
                and not c.isspace()
                and c not in "\u200b\u200c\u200d\ufe0f"
            }
            if gone:
                lacking.setdefault(lang, set()).update(gone)
    assert not lacking


@pytest.mark.slow  # opens the full CJK faces (~0.6 s)
@pytest.mark.parametrize("bold", [False, True])
def test_a_character_outside_the_subset_is_drawn_from_the_full_font(
    installed: theme.CjkFonts, bold: bool
) -> None:
    from kivy.core.text.text_sdl2 import LabelSDL2

    from screens import fonts

    fonts.install(installed)
    own = installed.bold if bold else installed.regular
    full = theme.FONT_CJK_BOLD if bold else theme.FONT_CJK
    assert not set(RARE) <= installed.covered  # the test needs a character it lacks
    drawn = pixels(fonts.RunsLabel, own, RARE, bold)
    assert drawn == pixels(LabelSDL2, full, RARE, bold)  # same pixels as the full font
    assert drawn != pixels(LabelSDL2, own, RARE, bold)  # the subset alone: empty boxes


def test_without_the_subset_labels_use_the_full_fonts(tmp_path: Path) -> None:
    fonts = theme.cjk_fonts(tmp_path)
    assert (fonts.regular, fonts.bold, fonts.covered) == (theme.FONT_CJK, theme.FONT_CJK_BOLD, None)
    assert theme.font_runs(RARE) == [(None, RARE)]


def test_runs_split_only_what_the_subset_lacks() -> None:
    covered = frozenset("外の ")
    assert theme.font_runs("鷗外の 𠮷", covered) == [
        (theme.FONT_CJK, "鷗"),
        (None, "外の "),
        (theme.FONT_CJK, "𠮷"),
    ]


def test_sizes_that_sdl2_ttf_opens_alike_share_one_open_font() -> None:
    """SDL2_ttf opens whole pixel sizes: 22.1 and 22.6 px are one open face, not two."""
    from screens import fonts

    def key(size: float) -> str:
        return fonts.RunsLabel(text="x", font_size=size)._get_font_id()

    assert key(22.1) == key(22.6) == key(22.0)
    assert key(22.6) != key(23.0)
