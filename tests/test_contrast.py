"""Large text and high contrast (issue 10): every text of the high-contrast theme is at
least 7:1 against what it is drawn on (WCAG 2 relative luminance), and the store's own
theme keeps AA for body text."""

from __future__ import annotations

import pytest

from screens.theme import HIGH_CONTRAST, MIN_TEXT_CONTRAST, Theme, contrast_ratio


def test_every_text_of_the_high_contrast_theme_is_at_least_7_to_1() -> None:
    theme = Theme.high_contrast()
    low = {
        name: round(contrast_ratio(fore, back), 2)
        for name, (fore, back) in theme.text_pairs().items()
        if contrast_ratio(fore, back) < HIGH_CONTRAST
    }
    assert not low, f"under 7:1: {low}"


def test_contrast_ratio_is_the_wcag_formula() -> None:
    black, white = (0.0, 0.0, 0.0, 1.0), (1.0, 1.0, 1.0, 1.0)
    assert contrast_ratio(black, white) == pytest.approx(21.0)
    grey = (0x76 / 255, 0x76 / 255, 0x76 / 255, 1.0)  # #767676 is the AA threshold grey
    assert contrast_ratio(grey, white) == pytest.approx(4.54, abs=0.01)


@pytest.mark.parametrize("brand", ["#0B4F9C", "#E60012", "#FFD400", "#00A040"])
def test_a_store_theme_keeps_body_text_readable(brand: str) -> None:
    theme = Theme.for_brand(brand)
    assert contrast_ratio(theme.text, theme.background) >= MIN_TEXT_CONTRAST
    assert contrast_ratio(theme.on_primary, theme.primary) >= MIN_TEXT_CONTRAST - 1.5
