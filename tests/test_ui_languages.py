"""The thirteen languages on the real window (Xvfb) at 800x480, the smallest panel.

One kiosk window goes through the key screens in every language (picker, welcome, notes,
place card, choose service, enter IDs) and measures every visible label's drawn text
against its size; the screenshots stay in ``artifacts/ui/languages-800x480-*/``.
"""

from __future__ import annotations

from typing import Any

import pytest

from kiosk.i18n import LANGUAGES, t

pytest_plugins = ["tests.fixtures.card", "tests.fixtures.screen"]

pytestmark = pytest.mark.slow

KEY_SCREENS = ("welcome", "notes", "place_card", "choose_service", "enter_ids")


def language_tour(lang: str) -> list[list[Any]]:
    def look(screen: str) -> list[list[Any]]:
        return [
            ["wait", screen, 30],
            ["shot", f"{lang}_{screen}"],
            ["overflow", f"{lang}_{screen}"],
        ]

    return [
        ["wait", "welcome"],
        ["tap", "lang"],
        ["tap", f"lang:{lang}"],
        ["expect", t("screens.welcome.apply", lang)],
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


#: One window per group: a window of all thirteen outlasts the UI fixture's time limit on
#: a busy machine (the card is read once per language).
GROUPS = (LANGUAGES[:5], LANGUAGES[5:9], LANGUAGES[9:])


@pytest.mark.parametrize("group", GROUPS, ids=lambda g: "-".join(g))
def test_key_screens_of_every_language_fit_800x480(run_kiosk_ui, group) -> None:
    script = [["wait", "welcome"], ["tap", "lang"], ["shot", "picker"], ["tap", "lang:ja"]]
    for lang in group:
        script += language_tour(lang)
    report = run_kiosk_ui(script, size=(800, 480), name=f"languages-800x480-{group[0]}")
    assert report["error"] is None, report["error"]
    measured = report["overflow"]
    assert len(measured) == len(group) * len(KEY_SCREENS)
    overflowing = {shot: labels for shot, labels in measured.items() if labels}
    assert not overflowing, f"text larger than its label: {overflowing}"
