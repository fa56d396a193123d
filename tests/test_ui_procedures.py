"""The 行政サービス menu and 健康保険証の利用申込み on the real kiosk window (Xvfb), at every
form factor: menu → 公金受取口座 (explanation and QR code) → back → 健康保険証 consent →
card → confirm → PIN → registered → receipt → take card; at 1280x800 also 申込状況の確認
listing both procedures, and a card removed at the confirm step. Screenshots of every new
screen go to ``artifacts/ui/procedures-<size>/``."""

from __future__ import annotations

from typing import Any

import pytest

from kiosk.i18n import t
from screens.app import FORM_FACTORS

pytest_plugins = ["tests.fixtures.card", "tests.fixtures.screen"]

pytestmark = pytest.mark.slow  # each test here takes half a second or more


def procedures_script() -> list[list[Any]]:
    return [
        ["wait", "welcome"],
        ["tap", "start_services"],
        ["wait", "menu"],
        ["expect", t("procedures.health_insurance.title")],
        ["shot", "20_menu"],
        ["tap", "procedure:public_funds"],
        ["wait", "procedure_info"],
        ["expect", t("procedures.public_funds.info_title")],
        ["shot", "21_public_funds_qr"],
        ["tap", "back"],
        ["wait", "menu"],
        ["tap", "procedure:health_insurance"],
        ["wait", "notes"],
        ["expect", t("procedures.health_insurance.notes_title")],
        ["shot", "22_health_consent"],
        ["tap", "agree"],
        ["wait", "place_card"],
        ["hook", "insert_card", "card"],
        ["wait", "confirm", 30],
        ["expect", t("procedures.health_insurance.confirm_title")],
        ["shot", "23_health_confirm"],
        ["tap", "confirm"],
        ["wait", "pin"],
        ["pin", "1234"],
        ["wait", "result", 40],
        ["expect", t("procedures.health_insurance.accepted")],
        ["shot", "24_health_registered"],
        ["tap", "done"],
        ["wait", "take_card", 40],
        ["hook", "remove_card", "card"],
        ["wait", "welcome"],
    ]


def status_script() -> list[list[Any]]:
    return [
        ["tap", "start_status"],
        ["wait", "place_card"],
        ["hook", "insert_card", "card"],
        ["wait", "pin", 30],
        ["pin", "1234"],
        ["wait", "status", 30],
        ["expect", t("procedures.health_insurance.title") + ": " + t("procedures.state.done")],
        ["shot", "25_status_both_procedures"],
        ["tap", "done"],
        ["wait", "take_card"],
        ["hook", "remove_card", "card"],
        ["wait", "welcome"],
    ]


def card_removed_at_confirm_script() -> list[list[Any]]:
    return [
        ["wait", "welcome"],
        ["tap", "start_services"],
        ["wait", "menu"],
        ["tap", "procedure:health_insurance"],
        ["wait", "notes"],
        ["tap", "agree"],
        ["wait", "place_card"],
        ["hook", "insert_card", "other"],
        ["wait", "confirm", 30],
        ["hook", "remove_card", "other"],
        ["wait", "welcome"],
        ["expect", t("screens.notice.card_removed")],
    ]


#: The smallest and the largest screen sold, and the default one (with the status check):
#: 1024x768 lies between them in both dimensions (tests/test_ui_form_factors.py runs every
#: form factor; this module's fourth run cost 30 s of the suite under load).
SIZES = tuple(size for size in FORM_FACTORS if size != (1024, 768))


@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
def test_menu_and_health_insurance_registration_at_three_form_factors(
    run_kiosk_ui, size: tuple[int, int]
) -> None:
    script = procedures_script()
    if size == (1280, 800):  # the status check and a card removed, at one size
        script += status_script() + card_removed_at_confirm_script()
    report = run_kiosk_ui(
        script,
        size=size,
        name=f"procedures-{size[0]}x{size[1]}",
        cards={"card": {}, "other": {}},
    )
    assert report["error"] is None, report["error"]
    seen = report["screens_seen"]
    assert {"menu", "procedure_info", "confirm", "result"} <= set(seen)
    if size == (1280, 800):
        assert "status" in seen and seen[-1] == "welcome"
    assert len(report["shots"]) >= 5
    (receipt,) = report["receipts"]
    assert any("健康保険証" in line for line in receipt["text"])
