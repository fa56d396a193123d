"""One layout for every form factor sold: 800x480, 1024x768, 1280x800, 1920x1080.

At each size a whole enrollment, a status check (申込状況の確認) and the staff screen
run on the real kiosk window, with a screenshot of every screen kept under
``artifacts/ui/form_factor-<size>/``.
"""

from __future__ import annotations

from typing import Any

import pytest

from kiosk.i18n import t
from screens.app import FORM_FACTORS
from sim.demo import (
    SLOW_CARD,
    choose_and_enter,
    confirm_and_pin,
    start_and_place_card,
)

pytest_plugins = ["tests.fixtures.card", "tests.fixtures.screen"]

pytestmark = pytest.mark.slow  # each test here takes half a second or more

MIN_TOUCH_TARGET_PX_AT_1280x800 = 80


def enrollment_with_receipt_on_screen(account: tuple[str, str, list[str]]) -> list[list[Any]]:
    """Every screen of an enrollment; the printer is out of paper, so the receipt is shown."""
    return (
        [["hook", "paper", "out"]]
        + start_and_place_card(slow_card=True)
        + choose_and_enter(account)
        + confirm_and_pin(slow_card=True)
        + [
            ["wait", "result", 40],
            ["shot", "11_result"],
            ["tap", "done"],
            ["wait", "receipt"],
            ["expect", t("screens.receipt.on_screen")],
            ["shot", "12_receipt_on_screen"],
            ["tap", "done"],
            ["wait", "take_card"],
            ["shot", "13_take_card"],
            ["hook", "remove_card", "card"],
            ["hook", "paper", "ok"],
        ]
    )


def expired_card_script() -> list[list[Any]]:
    return start_and_place_card("expired", shots=False)[:-1] + [
        ["wait", "error", 30],
        ["shot", "14_error"],
        ["tap", "done"],
        ["wait", "take_card"],
        ["hook", "remove_card", "expired"],
        ["wait", "welcome"],
    ]


def status_and_staff_script() -> list[list[Any]]:
    return [
        ["wait", "welcome"],
        ["tap", "start_status"],
        ["wait", "place_card"],
        ["hook", "insert_card", "card"],
        ["wait", "pin", 30],
        ["pin", "1234"],
        ["wait", "status", 30],
        ["shot", "16_status"],
        ["tap", "done"],
        ["wait", "take_card"],
        ["hook", "remove_card", "card"],
        ["wait", "welcome"],
        *[["tap", "brand"] for _ in range(5)],
        ["wait", "staff"],
        ["pin", "2580", False],
        ["tap", "staff_pin_ok"],
        ["expect", t("screens.staff.test_print")],
        ["shot", "17_staff"],
        ["tap", "staff_close"],
        ["wait", "welcome"],
    ]


@pytest.fixture(scope="module")
def runs() -> dict[tuple[int, int], dict[str, Any]]:
    return {}


@pytest.mark.parametrize("size", FORM_FACTORS, ids=[f"{w}x{h}" for w, h in FORM_FACTORS])
def test_enrollment_status_and_staff_screens_work_at_every_form_factor(
    run_kiosk_ui, ui_central, size: tuple[int, int]
) -> None:
    account = ui_central.new_account("waon")
    script = (
        enrollment_with_receipt_on_screen(account)
        + status_and_staff_script()
        + expired_card_script()
    )
    report = run_kiosk_ui(
        script,
        size=size,
        name=f"form_factor-{size[0]}x{size[1]}",
        cards={"card": {"delays": SLOW_CARD}, "expired": {"expired": True}},
    )
    assert report["error"] is None, report["error"]
    assert "status" in report["screens_seen"] and "staff" in report["screens_seen"]
    assert len(report["shots"]) >= 16
    if size == (1280, 800):
        small = [
            (shot, action, w, h)
            for shot, targets in report["targets"].items()
            for action, w, h in targets
            if min(w, h) < MIN_TOUCH_TARGET_PX_AT_1280x800 and action != "brand"
        ]
        assert not small, f"touch targets under 80 px: {small}"


def test_english_enrollment_on_the_smallest_screen(run_kiosk_ui, ui_central) -> None:
    """English texts are the longest: the whole enrollment in English at 800x480."""
    account = ui_central.new_account("waon")
    script = [
        ["wait", "welcome"],
        ["tap", "lang"],
        ["tap", "lang:en"],
        ["expect", t("screens.welcome.apply", "en")],
    ]
    script += enrollment_script_for(account)
    report = run_kiosk_ui(script, size=(800, 480), name="english-800x480")
    assert report["error"] is None, report["error"]
    assert len(report["receipts"]) == 1


def enrollment_script_for(account: tuple[str, str, list[str]]) -> list[list[Any]]:
    from sim.demo import enrollment_script

    return enrollment_script(account)
