"""Text in Thai and Devanagari inside labels set in Noto Sans CJK (issue 10).

Kivy's SDL2 text provider draws a label with one font. Noto Sans CJK has no Thai or
Devanagari, and Noto Sans Thai / Devanagari have no Latin, digits or kana, yet a Thai or
Nepali line carries "PIN", "ID" and the programme's Japanese terms. :class:`RunsLabel`
measures and draws each run of :func:`screens.theme.font_runs` with its own font.
Shaping stays with SDL2_ttf: the wheel's SDL2_ttf 2.22 is built with HarfBuzz, which
positions Thai marks and forms Devanagari conjuncts (checked by screenshot, docs/ui.md).
"""

from __future__ import annotations

import re
from contextlib import contextmanager
from typing import Any

from kivy.core.text.markup import MarkupLabel
from kivy.core.text.text_sdl2 import LabelSDL2

from screens.theme import SCRIPT_FONTS, font_runs

#: Any character that needs a script font: one C-level search per measured word.
_SCRIPT_CHARS = re.compile(
    "[" + "".join(f"\\u{a:04x}-\\u{b:04x}" for a, b, _ in SCRIPT_FONTS) + "]"
)


def _needs_runs(text: str) -> bool:
    return _SCRIPT_CHARS.search(text) is not None


class _Runs:
    """Measure and draw each script run in its font; plain text takes the plain path."""

    options: dict[str, Any]

    @contextmanager
    def _font(self, font: str | None) -> Any:
        if font is None:
            yield
            return
        saved = self.options["font_name_r"]
        self.options["font_name_r"] = font
        try:
            yield
        finally:
            self.options["font_name_r"] = saved

    def get_extents(self, text: str) -> tuple[int, int]:
        if not _needs_runs(text):
            return super().get_extents(text)
        width = height = 0
        for font, run in font_runs(text):
            with self._font(font):
                w, h = super().get_extents(run)
            width, height = width + w, max(height, h)
        return width, height

    def get_cached_extents(self) -> Any:
        return self.get_extents

    def _render_text(self, text: str, x: int, y: int) -> None:
        if not _needs_runs(text):
            super()._render_text(text, x, y)
            return
        for font, run in font_runs(text):
            with self._font(font):
                super()._render_text(run, x, y)
                x += super().get_extents(run)[0]


class RunsLabel(_Runs, LabelSDL2):
    """A plain label."""


class RunsMarkupLabel(_Runs, MarkupLabel):
    """A label with markup (the service buttons' name and points line)."""


def install() -> None:
    """Every Kivy Label, plain or with markup, renders through the run-aware classes."""
    import kivy.core.text
    import kivy.uix.label

    kivy.core.text.Label = RunsLabel
    kivy.uix.label.CoreLabel = RunsLabel
    kivy.uix.label.CoreMarkupLabel = RunsMarkupLabel
