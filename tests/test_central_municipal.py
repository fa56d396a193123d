"""自治体マイナポイント at the real central service (HTTPS, mutual TLS, SQLite): eligibility by a
listed certificate or by its municipality, decided centrally; not eligible; one per card
per campaign; a closed or non-municipal campaign (issue 11, part 5)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from contract import wire
from sim.central import start_central
from tests.fixtures.central import CentralService

pytest_plugins = ["tests.fixtures.central"]

pytestmark = pytest.mark.slow  # each test here takes half a second or more

CAMPAIGNS = """
[[campaigns]]
id = "city-a"
kind = "municipal"
municipality = "111111"
starts = 2020-01-01
ends = 2099-12-31
flat_points = 3000
kiosk_enrollment = true
[[campaigns]]
id = "city-past"
kind = "municipal"
municipality = "111111"
starts = 2020-01-01
ends = 2021-12-31
flat_points = 1000
kiosk_enrollment = true
[[campaigns]]
id = "cards"
kind = "payment_service"
starts = 2020-01-01
ends = 2099-12-31
kiosk_enrollment = true
"""


@pytest.fixture(scope="module")
def central(tmp_path_factory: pytest.TempPathFactory, jpki: Any) -> Any:
    directory = tmp_path_factory.mktemp("municipal")
    (directory / "campaigns.toml").write_text(CAMPAIGNS, encoding="utf-8")
    service = start_central(directory, pki=jpki, campaigns_file=directory / "campaigns.toml")
    try:
        yield service
    finally:
        service.stop()


def one(svc: CentralService, item: dict) -> dict:
    with svc.session() as s:
        r = s.post(svc.base_url + wire.BATCH_PATH, json=wire.batch_body([item]), timeout=30)
    r.raise_for_status()
    return r.json()["results"][0]


def serial(card: Any) -> str:
    return format(card.certificate.serial_number, "x")


def apply(svc: CentralService, card: Any, campaign: str = "city-a") -> dict:
    item, _ = svc.make_procedure_item(card, procedure="municipal_points", campaign_id=campaign)
    return one(svc, item)


def test_eligible_by_municipality_or_by_listing_and_once_per_campaign(central: Any) -> None:
    resident, listed, outsider = (central.pki.issue_card() for _ in range(3))
    central.set_municipal(
        {
            "municipality_of": {serial(resident): "111111", serial(outsider): "222222"},
            "eligible": {"city-a": [serial(listed)]},
        }
    )
    for card in (resident, listed):
        answer = apply(central, card)
        assert (answer["status"], answer["points"]) == ("accepted", 3000)
    assert apply(central, outsider)["reason"] == "not_eligible"
    assert apply(central, resident)["reason"] == "already_joined"


def test_a_closed_or_non_municipal_campaign_is_closed(central: Any) -> None:
    card = central.pki.issue_card()
    central.set_municipal({"eligible": {"city-past": [serial(card)], "cards": [serial(card)]}})
    assert apply(central, card, "city-past")["reason"] == "campaign_closed"
    assert apply(central, card, "cards")["reason"] == "campaign_closed"
    assert apply(central, card, "")["reason"] == "malformed"


def test_eligibility_file_gone_is_retry(central: Any, tmp_path: Path) -> None:
    card = central.pki.issue_card()
    path = central.accounts_file.with_name("municipal.json")
    saved = path.read_text(encoding="utf-8")
    path.unlink()
    try:
        assert apply(central, card)["status"] == "retry"
    finally:
        path.write_text(saved, encoding="utf-8")
