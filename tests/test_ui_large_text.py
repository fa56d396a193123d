"""Large text and high contrast on the real window (Xvfb): one touch on the welcome
screen turns it on, and the key screens still hold at 800x480 and 1280x800 (every label's
drawn text measured against its size; screenshots in ``artifacts/ui/large-text-*``,
copies in ``docs/screenshots/large_text_*``)."""

from __future__ import annotations

from typing import Any

import pytest

pytest_plugins = ["tests.fixtures.card", "tests.fixtures.screen"]

pytestmark = pytest.mark.slow

SCREENS = ("welcome", "notes", "place_card", "choose_service", "enter_ids")


def large_text_tour() -> list[list[Any]]:
    def look(screen: str) -> list[list[Any]]:
        return [["wait", screen, 30], ["shot", f"large_text_{screen}"], ["overflow", screen]]

    return [
        ["wait", "welcome"],
        ["tap", "assist"],
        *look("welcome"),
        ["tap", "start_apply"],
        *look("notes"),
        ["tap", "agree"],
        *look("place_card"),
        ["hook", "insert_card", "card"],
        *look("choose_service"),
        ["tap", "service:waon"],
        *look("enter_ids"),
        ["tap", "back"],
        ["wait", "choose_service"],
        ["tap", "cancel"],
        ["wait", "take_card", 30],
        ["hook", "remove_card", "card"],
        ["wait", "welcome"],
    ]


@pytest.mark.parametrize("size", [(800, 480), (1280, 800)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_large_text_layouts_hold(run_kiosk_ui, size: tuple[int, int]) -> None:
    report = run_kiosk_ui(large_text_tour(), size=size, name=f"large-text-{size[0]}x{size[1]}")
    assert report["error"] is None, report["error"]
    assert set(report["overflow"]) == set(SCREENS)
    overflowing = {shot: labels for shot, labels in report["overflow"].items() if labels}
    assert not overflowing, f"text larger than its label: {overflowing}"
