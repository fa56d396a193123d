"""Outside every campaign's dates the kiosk says so, at every form factor sold.

The central service here serves only rounds that have ended; the kiosk refreshes
its catalog from it at start, so the apply menu leads to the closed screen.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from kiosk.i18n import t
from screens.app import FORM_FACTORS
from tests.fixtures.central import start_central
from tests.fixtures.screen import central_description

pytest_plugins = ["tests.fixtures.card", "tests.fixtures.screen"]

pytestmark = pytest.mark.slow  # each test here takes half a second or more

ENDED_ROUND = """
[[campaigns]]
id = "2020"
name_ja = "マイナポイント第1弾"
name_en = "Mynapoint round 1"
kind = "payment_service"
starts = 2020-09-01
ends = 2021-12-31
rate_percent = 25
cap_points = 5000
flat_points = 0
kiosk_enrollment = true
"""


@pytest.fixture(scope="module")
def central_with_ended_campaigns(tmp_path_factory, test_pki):
    from kiosk.catalog import SERVICES_FILE

    directory = tmp_path_factory.mktemp("central-ended")
    campaigns = directory / "campaigns.toml"
    campaigns.write_text(ENDED_ROUND, encoding="utf-8")
    service = start_central(
        directory, pki=test_pki, services_file=SERVICES_FILE, campaigns_file=campaigns
    )
    try:
        yield service
    finally:
        service.stop()


#: The smallest and the largest screen sold: one screen's layout, which the sizes between
#: cannot break when these two hold (every size runs in tests/test_ui_form_factors.py).
SIZES = (FORM_FACTORS[0], FORM_FACTORS[-1])


@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
def test_apply_outside_every_campaign_shows_the_closed_screen_and_returns_to_welcome(
    run_kiosk_ui, central_with_ended_campaigns, tmp_path: Path, size: tuple[int, int]
) -> None:
    script = [
        ["wait", "welcome"],
        ["sleep", 2.0],  # the catalog refresh from the central service at start
        ["tap", "start_apply"],
        ["wait", "campaign_closed"],
        ["expect", t("screens.campaign_closed.title")],
        ["shot", "18_campaign_closed"],
        ["tap", "done"],
        ["wait", "welcome"],
    ]
    report = run_kiosk_ui(
        script,
        size=size,
        name=f"campaign_closed-{size[0]}x{size[1]}",
        central=central_description(central_with_ended_campaigns, tmp_path),
    )
    assert report["error"] is None, report["error"]
    assert "campaign_closed" in report["screens_seen"]
    assert "place_card" not in report["screens_seen"]
