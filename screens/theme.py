"""Colours and sizes every screen shares: the store's brand, high contrast, one unit.

Sizes are given in ``u``, one hundredth of the window height, so one layout
scales from the 800x480 Raspberry Pi panel to a 1920x1080 copier panel. At
1280x800 a button of ``12 u`` is 96 px (touch targets must be >= 80 px there).
Colours come from the store's configuration; the text drawn on a brand colour
is black or white, whichever contrasts more (WCAG contrast ratio).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

#: Unit of every size: the window height divided by this.
UNITS_PER_HEIGHT = 100.0
#: Touch targets are at least this many units high (96 px at 1280x800).
TOUCH_TARGET_U = 12.0
#: WCAG AA for body text.
MIN_TEXT_CONTRAST = 4.5
#: WCAG AAA (enhanced contrast): what the high-contrast theme meets for every text.
HIGH_CONTRAST = 7.0

RGBA = tuple[float, float, float, float]

BLACK: RGBA = (0.07, 0.07, 0.07, 1.0)
WHITE: RGBA = (1.0, 1.0, 1.0, 1.0)


def parse_hex_colour(value: str) -> RGBA:
    """``"#0A5BB5"`` or ``"0A5BB5"`` to an RGBA tuple; a clear error otherwise."""
    text = value.strip().lstrip("#")
    if len(text) != 6 or any(c not in "0123456789abcdefABCDEF" for c in text):
        raise ValueError(f"colour {value!r} is not #RRGGBB")
    r, g, b = (int(text[i : i + 2], 16) / 255.0 for i in (0, 2, 4))
    return (r, g, b, 1.0)


def _luminance(c: RGBA) -> float:
    def channel(v: float) -> float:
        return v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(v) for v in c[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast_ratio(a: RGBA, b: RGBA) -> float:
    """WCAG 2 contrast ratio between two colours (1 to 21)."""
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def text_colour_on(background: RGBA) -> RGBA:
    """Black or white, whichever reads better on ``background``."""
    if contrast_ratio(background, WHITE) >= contrast_ratio(background, BLACK):
        return WHITE
    return BLACK


def mix(a: RGBA, b: RGBA, share_of_a: float) -> RGBA:
    """``share_of_a`` of colour ``a`` over colour ``b``."""
    return tuple(x * share_of_a + y * (1 - share_of_a) for x, y in zip(a, b, strict=True))  # type: ignore[return-value]


def darker(c: RGBA, factor: float = 0.75) -> RGBA:
    """The pressed shade of a colour."""
    return (c[0] * factor, c[1] * factor, c[2] * factor, c[3])


@dataclass(frozen=True)
class Theme:
    """The palette of one store; every colour a screen uses comes from here."""

    primary: RGBA = parse_hex_colour("#0B4F9C")
    accent: RGBA = parse_hex_colour("#E8F0FA")
    background: RGBA = WHITE
    text: RGBA = BLACK
    muted: RGBA = parse_hex_colour("#404040")
    warning: RGBA = parse_hex_colour("#B00020")
    warning_background: RGBA = parse_hex_colour("#FFF0F0")
    success: RGBA = parse_hex_colour("#1B6E20")
    disabled: RGBA = parse_hex_colour("#BDBDBD")
    outline: RGBA = parse_hex_colour("#222222")

    @property
    def on_primary(self) -> RGBA:
        return text_colour_on(self.primary)

    @classmethod
    def high_contrast(cls) -> Theme:
        """Large text and high contrast (issue 10): white and yellow on black, every text
        at least 7:1 (WCAG AAA) against what it is drawn on; the store's colours give way."""
        return cls(
            primary=parse_hex_colour("#FFE500"),
            accent=parse_hex_colour("#1A1A1A"),
            background=parse_hex_colour("#000000"),
            text=WHITE,
            muted=parse_hex_colour("#D6D6D6"),
            warning=parse_hex_colour("#FFE500"),
            warning_background=parse_hex_colour("#000000"),
            success=parse_hex_colour("#7CFF7C"),
            disabled=parse_hex_colour("#333333"),
            outline=WHITE,
        )

    def text_pairs(self) -> dict[str, tuple[RGBA, RGBA]]:
        """Every (text colour, what it is drawn on) the screens use."""
        return {
            "text on background": (self.text, self.background),
            "muted on background": (self.muted, self.background),
            "text on accent (pressed, rows)": (self.text, self.accent),
            "on primary (primary buttons, header, selected)": (self.on_primary, self.primary),
            "warning on its box": (self.warning, self.warning_background),
            "warning on background": (self.warning, self.background),
            "countdown banner": (text_colour_on(self.warning), self.warning),
            "success on background": (self.success, self.background),
            "muted on disabled buttons": (self.muted, self.disabled),
            "outline on background": (self.outline, self.background),
        }

    @classmethod
    def for_brand(cls, primary: str, background: str = "#FFFFFF", text: str = "#000000") -> Theme:
        """A theme in the store's colours (hex strings from configuration).

        The light tint (selected rows, pressed keys) is the brand colour mixed into the
        background; text keeps black or white wherever the store's choice would read badly.
        """
        brand, back, fore = (parse_hex_colour(c) for c in (primary, background, text))
        if contrast_ratio(fore, back) < MIN_TEXT_CONTRAST:
            fore = text_colour_on(back)
        return cls(primary=brand, accent=mix(brand, back, 0.12), background=back, text=fore)


# --- fonts per script (issue 10: thirteen languages) ------------------------------------
#: Noto Sans CJK (Debian fonts-noto-cjk): Japanese, Chinese, Korean, Latin and Vietnamese.
#: Kivy's SDL2 provider opens face 0 of the collection, the JP face, so Chinese shows JP
#: glyph shapes for the few characters whose shapes differ (docs/ui.md).
FONT_CJK = "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"
FONT_CJK_BOLD = "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc"
#: Debian fonts-noto-core: Thai and Devanagari have no Latin letters, digits or kana, so a
#: line of Thai or Nepali is drawn in runs: the script's own font for its characters, CJK
#: for the rest (ID, PIN, マイナンバーカード in the official terms).
FONT_THAI = "/usr/share/fonts/truetype/noto/NotoSansThai-Regular.ttf"
FONT_DEVANAGARI = "/usr/share/fonts/truetype/noto/NotoSansDevanagari-Regular.ttf"

#: Where ``python -m screens.font_subset`` (scripts/setup.sh, scripts/install.sh) puts the
#: CJK faces cut down to the kiosk's characters: ~0.4 MiB per open size instead of 2.6.
SUBSET_DIR = Path(sys.prefix) / "share" / "mynapoint-kiosk" / "fonts"


@dataclass(frozen=True)
class CjkFonts:
    """The fonts labels are set in: the subset when it is installed, else the full ones.

    ``covered`` is every character ``regular`` and ``bold`` have (None: all of the full
    font's); any other character is drawn from the full Debian font (:func:`font_runs`).
    """

    regular: str
    bold: str
    covered: frozenset[str] | None = None


def cjk_fonts(directory: Path | None = None) -> CjkFonts:
    """The subset in ``directory`` (default :data:`SUBSET_DIR`) if complete, else the full faces."""
    folder = directory or SUBSET_DIR
    regular, bold = (
        folder / "NotoSansCJK-Regular.subset.otf",
        folder / "NotoSansCJK-Bold.subset.otf",
    )
    coverage = folder / "coverage.txt"
    if regular.is_file() and bold.is_file() and coverage.is_file():
        return CjkFonts(str(regular), str(bold), frozenset(coverage.read_text(encoding="utf-8")))
    return CjkFonts(FONT_CJK, FONT_CJK_BOLD)


#: (first, last) code points of a script, and the font its characters are drawn with.
SCRIPT_FONTS: tuple[tuple[int, int, str], ...] = (
    (0x0E00, 0x0E7F, FONT_THAI),
    (0x0900, 0x097F, FONT_DEVANAGARI),
    (0xA8E0, 0xA8FF, FONT_DEVANAGARI),  # Devanagari Extended
    (0x1CD0, 0x1CFF, FONT_DEVANAGARI),  # Vedic Extensions
)
_JOINERS = frozenset("\u200b\u200c\u200d")  # zero-width (non-)joiners stay in the run they are in


def script_font(char: str) -> str | None:
    """The font a character needs instead of the CJK one, or None."""
    code = ord(char)
    for first, last, font in SCRIPT_FONTS:
        if first <= code <= last:
            return font
    return None


def font_runs(text: str, covered: frozenset[str] | None = None) -> list[tuple[str | None, str]]:
    """``text`` split into runs of one font each (None: the label's own font, CJK).

    Spaces and joiners join the run before them, so a Thai phrase with spaces is one run
    and HarfBuzz (inside SDL2_ttf) shapes it whole. With ``covered`` (the characters of
    the label's subset font), any other character is drawn from the full :data:`FONT_CJK`.
    """
    runs: list[tuple[str | None, str]] = []
    for char in text:
        font = script_font(char)
        if (
            font is None
            and covered is not None
            and char not in covered
            and not char.isspace()
            and char not in _JOINERS
        ):
            font = FONT_CJK
        if runs and (font == runs[-1][0] or char.isspace() or char in _JOINERS):
            runs[-1] = (runs[-1][0], runs[-1][1] + char)
        else:
            runs.append((font, char))
    return runs
