"""Text in Thai and Devanagari inside labels set in Noto Sans CJK (issue 10), and the
characters the installed CJK subset lacks (``screens/font_subset.py``).

Kivy's SDL2 text provider draws a label with one font. Noto Sans CJK has no Thai or
Devanagari, and Noto Sans Thai / Devanagari have no Latin, digits or kana, yet a Thai or
Nepali line carries "PIN", "ID" and the programme's Japanese terms. :class:`RunsLabel`
measures and draws each run of :func:`screens.theme.font_runs` with its own font.
Shaping stays with SDL2_ttf: the wheel's SDL2_ttf 2.22 is built with HarfBuzz, which
positions Thai marks and forms Devanagari conjuncts (checked by screenshot, docs/ui.md).
Labels are set in the CJK subset when it is installed; a character outside it (a rare
kanji in a store's name) is a run of its own in the full Debian font, regular or bold.
"""

from __future__ import annotations

import re
from contextlib import contextmanager
from typing import Any

from kivy.core.text.markup import MarkupLabel
from kivy.core.text.text_sdl2 import LabelSDL2

from screens.theme import FONT_CJK, FONT_CJK_BOLD, SCRIPT_FONTS, CjkFonts, font_runs

#: Any character that needs a script font: one C-level search per measured word.
_SCRIPT_CHARS = re.compile(
    "[" + "".join(f"\\u{a:04x}-\\u{b:04x}" for a, b, _ in SCRIPT_FONTS) + "]"
)


#: The installed CJK fonts (set by :func:`install`): their coverage decides the fallback.
_fonts = CjkFonts(FONT_CJK, FONT_CJK_BOLD)
#: Any character outside the subset (None: no subset, the full font has them all).
_UNCOVERED: re.Pattern[str] | None = None


def _needs_runs(text: str) -> bool:
    if _SCRIPT_CHARS.search(text) is not None:
        return True
    return _UNCOVERED is not None and _UNCOVERED.search(text) is not None


class _Runs:
    """Measure and draw each script run in its font; plain text takes the plain path."""

    options: dict[str, Any]

    @contextmanager
    def _font(self, font: str | None) -> Any:
        if font is None:
            yield
            return
        saved = self.options["font_name_r"]
        if font == FONT_CJK and saved == _fonts.bold:
            font = FONT_CJK_BOLD  # the full face of a bold label's weight
        self.options["font_name_r"] = font
        try:
            yield
        finally:
            self.options["font_name_r"] = saved

    def get_extents(self, text: str) -> tuple[int, int]:
        if not _needs_runs(text):
            return super().get_extents(text)
        width = height = 0
        for font, run in font_runs(text, _fonts.covered):
            with self._font(font):
                w, h = super().get_extents(run)
            width, height = width + w, max(height, h)
        return width, height

    def get_cached_extents(self) -> Any:
        return self.get_extents

    def _get_font_id(self) -> str:
        """The key of Kivy's cache of open fonts: the size as SDL2_ttf opens it (whole pixels).

        Kivy keys its cache on the float size, so 22.08 and 22.6 px were two open copies
        of the same 22 px face (2.6 MiB each for Noto Sans CJK) and the 64-font cache
        filled with duplicates; SDL2_ttf truncates the size, so the pixels are the same.
        """
        o = self.options
        rest = ("font_name_r", "bold", "italic", "underline", "strikethrough")
        return "|".join([str(int(o["font_size"])), *(str(o[k]) for k in rest)])

    def _render_text(self, text: str, x: int, y: int) -> None:
        if not _needs_runs(text):
            super()._render_text(text, x, y)
            return
        for font, run in font_runs(text, _fonts.covered):
            with self._font(font):
                super()._render_text(run, x, y)
                x += super().get_extents(run)[0]


class RunsLabel(_Runs, LabelSDL2):
    """A plain label."""


class RunsMarkupLabel(_Runs, MarkupLabel):
    """A label with markup (the service buttons' name and points line)."""


def install(fonts: CjkFonts | None = None) -> None:
    """Every Kivy Label, plain or with markup, renders through the run-aware classes;
    ``fonts`` are the CJK faces registered as the default font (their coverage)."""
    import kivy.core.text
    import kivy.uix.label

    global _fonts, _UNCOVERED
    if fonts is not None:
        _fonts = fonts
        _UNCOVERED = None
        if fonts.covered is not None:
            allowed = "".join(sorted(fonts.covered | {"\n", "\t", "\r"}))
            _UNCOVERED = re.compile(f"[^{re.escape(allowed)}\\s]")

    kivy.core.text.Label = RunsLabel
    kivy.uix.label.CoreLabel = RunsLabel
    kivy.uix.label.CoreMarkupLabel = RunsMarkupLabel
