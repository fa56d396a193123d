"""No character of any catalog falls back to a missing glyph (issue 10).

Each message is split the way the screens draw it (``screens.theme.font_runs``: the
script's own font for Thai and Devanagari, Noto Sans CJK for the rest) and every character
is looked up in the cmap of the font that draws it (fontTools, a test extra).
"""

from __future__ import annotations

from functools import cache

import pytest

from kiosk.i18n import LANGUAGES, catalog
from screens import theme

pytestmark = pytest.mark.slow  # reading the CJK collection's cmap takes seconds

fontTools = pytest.importorskip("fontTools")  # noqa: N816  (the package's own name)
from fontTools.ttLib import TTCollection, TTFont  # noqa: E402

#: Characters a shaper draws as nothing: no glyph needed.
INVISIBLE = frozenset("\u200b\u200c\u200d\ufe0f")


@cache
def cmap(path: str) -> frozenset[int]:
    if path.endswith(".ttc"):
        font = TTCollection(path, lazy=True).fonts[0]  # SDL2_ttf opens face 0 (JP)
    else:
        font = TTFont(path, lazy=True)
    return frozenset(font.getBestCmap())


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_character_has_a_glyph_in_the_font_that_draws_it(lang: str) -> None:
    missing: dict[str, set[str]] = {}
    for key, text in catalog(lang).items():
        for font, run in theme.font_runs(text):
            path = font or theme.FONT_CJK
            lacking = {c for c in run if not c.isspace() and c not in INVISIBLE}
            lacking = {c for c in lacking if ord(c) not in cmap(path)}
            if lacking:
                missing.setdefault(f"{key} ({path.rsplit('/', 1)[-1]})", set()).update(lacking)
    assert not missing, f"{lang}: characters without a glyph: {missing}"


def test_thai_and_nepali_lines_switch_fonts_for_latin_and_kana() -> None:
    runs = theme.font_runs("กรอก決済サービスID (ID บริการ)")
    assert [font for font, _ in runs] == [theme.FONT_THAI, None, theme.FONT_THAI, None]
    assert "".join(run for _, run in runs) == "กรอก決済サービスID (ID บริการ)"
    assert theme.font_runs("ठीक छ") == [(theme.FONT_DEVANAGARI, "ठीक छ")]
    assert theme.font_runs("OK") == [(None, "OK")]


def test_the_bold_cjk_font_has_what_the_regular_one_has_for_every_catalog() -> None:
    bold = cmap(theme.FONT_CJK_BOLD)
    chars = {c for lang in LANGUAGES for text in catalog(lang).values() for c in text}
    lacking = {c for c in chars if ord(c) in cmap(theme.FONT_CJK) and ord(c) not in bold}
    assert not lacking
