"""What the central service tells kiosks besides answers: the payment-service catalog,
the campaigns, the sealing key; and what it learns from them: heartbeats (staff view).
Real service over mTLS on SQLite: fed the kiosk's own data files to check they are
served, and data files of the same format written here to check the rules."""

from __future__ import annotations

import datetime as dt
import time
import tomllib
from pathlib import Path
from typing import Any

import pytest

from central.sealing import write_new_sealing_key
from contract import wire
from sim.central import prepare_central
from sim.clock import SkipAheadClock
from sim.pki import TestPKI
from tests.fixtures.central import CentralService, start_central

pytest_plugins = ["tests.fixtures.central"]

pytestmark = pytest.mark.slow  # each test here takes half a second or more

DATA = Path(__file__).resolve().parent.parent / "kiosk" / "data"
SERVICES, CAMPAIGNS = DATA / "services.toml", DATA / "campaigns.toml"
STALE_MINUTES = 0.05  # 3 s

RULES_SERVICES = """
[[services]]
code = "waon"
app_only = false
[[services]]
code = "app_only_pay"
app_only = true
"""
RULES_CAMPAIGNS = """
[[campaigns]]
id = "past"
starts = 2020-09-01
ends = 2021-12-31
kiosk_enrollment = true
[[campaigns]]
id = "open"
starts = 2020-01-01
ends = 2099-12-31
kiosk_enrollment = true
[[campaigns]]
id = "not_at_kiosk"
starts = 2020-01-01
ends = 2099-12-31
kiosk_enrollment = false
[[campaigns]]
id = "future"
starts = 2099-01-01
kiosk_enrollment = true
"""


@pytest.fixture
def central(tmp_path: Path, jpki: TestPKI) -> Any:
    service = start_central(
        tmp_path,
        pki=jpki,
        services_file=SERVICES,
        campaigns_file=CAMPAIGNS,
        stale_minutes=STALE_MINUTES,
    )
    try:
        yield service
    finally:
        service.stop()


@pytest.fixture
def clock() -> SkipAheadClock:
    return SkipAheadClock()


@pytest.fixture
def central_here(tmp_path: Path, jpki: TestPKI, clock: SkipAheadClock) -> Any:
    """The same service, served in this process with its time from ``clock``."""
    service = prepare_central(tmp_path / "here", pki=jpki, stale_minutes=STALE_MINUTES)
    service.start_here(clock)
    try:
        yield service
    finally:
        service.stop()


@pytest.fixture
def central_rules(tmp_path: Path, jpki: TestPKI) -> Any:
    """A service with data files of the kiosk's format, written for these rules."""
    (tmp_path / "services.toml").write_text(RULES_SERVICES, encoding="utf-8")
    (tmp_path / "campaigns.toml").write_text(RULES_CAMPAIGNS, encoding="utf-8")
    service = start_central(
        tmp_path,
        pki=jpki,
        services_file=tmp_path / "services.toml",
        campaigns_file=tmp_path / "campaigns.toml",
    )
    try:
        yield service
    finally:
        service.stop()


def get(svc: CentralService, path: str, kiosk_id: str | None = None) -> Any:
    with svc.session(kiosk_id) as s:
        r = s.get(svc.base_url + path, timeout=10)
    r.raise_for_status()
    return r.json()


def enroll(svc: CentralService, campaign_id: str, service_code: str = "waon") -> dict:
    code, user_id, codes = svc.new_account(service_code)
    item, _ = svc.make_item(
        svc.pki.issue_card(),
        service_code=code,
        service_user_id=user_id,
        security_codes=codes,
        campaign_id=campaign_id,
    )
    with svc.session() as s:
        r = s.post(svc.base_url + wire.BATCH_PATH, json=wire.batch_body([item]), timeout=30)
    return r.json()["results"][0]


def test_catalog_serves_the_configured_services_file(central: CentralService) -> None:
    expected = tomllib.loads(SERVICES.read_text(encoding="utf-8"))["services"]
    served = get(central, wire.CATALOG_PATH)["services"]
    assert [s["code"] for s in served] == [s["code"] for s in expected]
    assert served[0]["service_id"] == expected[0]["service_id"]


def test_campaigns_serve_the_configured_campaigns_file(central: CentralService) -> None:
    expected = tomllib.loads(CAMPAIGNS.read_text(encoding="utf-8"))["campaigns"]
    served = get(central, wire.CAMPAIGNS_PATH)["campaigns"]
    assert [c["id"] for c in served] == [c["id"] for c in expected]
    assert served[0]["starts"] == expected[0]["starts"].isoformat()  # TOML dates as ISO text


def test_without_data_files_catalog_and_campaigns_are_empty(tmp_path: Path, jpki: TestPKI) -> None:
    svc = start_central(tmp_path, pki=jpki)
    try:
        assert get(svc, wire.CATALOG_PATH)["services"] == []
        assert get(svc, wire.CAMPAIGNS_PATH)["campaigns"] == []
    finally:
        svc.stop()


def test_an_open_campaign_accepts(central_rules: CentralService) -> None:
    assert enroll(central_rules, "open")["status"] == "accepted"


def test_a_campaign_past_its_deadline_is_closed(central_rules: CentralService) -> None:
    assert enroll(central_rules, "past")["reason"] == "campaign_closed"


def test_a_campaign_not_yet_started_is_closed(central_rules: CentralService) -> None:
    assert enroll(central_rules, "future")["reason"] == "campaign_closed"


def test_a_campaign_not_enrolled_at_kiosks_is_closed_here(central_rules: CentralService) -> None:
    assert enroll(central_rules, "not_at_kiosk")["reason"] == "campaign_closed"


def test_an_unknown_campaign_is_closed(central_rules: CentralService) -> None:
    assert enroll(central_rules, "no-such-round")["reason"] == "campaign_closed"


def test_an_app_only_service_is_not_allowed_from_a_kiosk(central_rules: CentralService) -> None:
    assert enroll(central_rules, "open", "app_only_pay")["reason"] == "service_not_allowed"


def test_a_service_missing_from_the_catalog_is_not_allowed(central_rules: CentralService) -> None:
    assert enroll(central_rules, "open", "no_such_pay")["reason"] == "service_not_allowed"


def test_the_kiosk_files_app_only_services_are_refused(central: CentralService) -> None:
    """The shipped catalog's own app-only entries (e.g. 楽天ペイ) are refused here."""
    services = tomllib.loads(SERVICES.read_text(encoding="utf-8"))["services"]
    app_only = [s["code"] for s in services if s.get("app_only")]
    today = dt.date.today()
    open_now = [
        c["id"]
        for c in tomllib.loads(CAMPAIGNS.read_text(encoding="utf-8"))["campaigns"]
        if c.get("kiosk_enrollment", True)
        and c.get("starts", today) <= today <= c.get("ends", today)
    ]
    if not app_only or not open_now:
        pytest.skip("the shipped data has no app-only service or no campaign open today")
    assert enroll(central, open_now[0], app_only[0])["reason"] == "service_not_allowed"


def test_heartbeat_shows_in_the_kiosk_list(central: CentralService) -> None:
    beat = {
        "kiosk_version": "0.1.0",
        "queue_depth": 3,
        "oldest_pending_age_s": 42.0,
        "printer": "ok",
        "reader": "no_reader",
        "last_sync": "2026-11-26T00:00:00Z",
    }
    with central.session() as s:
        s.post(central.base_url + wire.HEARTBEAT_PATH, json=beat, timeout=10).raise_for_status()
    (kiosk,) = get(central, wire.KIOSKS_PATH)["kiosks"]
    assert kiosk["kiosk_id"] == central.kiosk_id  # from the client certificate
    assert (kiosk["queue_depth"], kiosk["reader"]) == (3, "no_reader")
    assert kiosk["stale"] is False


def test_a_kiosk_without_heartbeat_turns_stale(
    central_here: CentralService, clock: SkipAheadClock
) -> None:
    central = central_here
    with central.session("K-TEST-0009") as s:
        s.post(central.base_url + wire.HEARTBEAT_PATH, json={}, timeout=10).raise_for_status()
    assert get(central, wire.KIOSKS_PATH)["kiosks"][0]["stale"] is False
    clock.skip(STALE_MINUTES * 60 + 0.5)
    (kiosk,) = get(central, wire.KIOSKS_PATH)["kiosks"]
    assert kiosk["kiosk_id"] == "K-TEST-0009"
    assert kiosk["stale"] is True


def test_sealing_key_endpoint_names_the_current_key(central: CentralService) -> None:
    served = get(central, wire.SEALING_KEY_PATH)
    assert served["key_id"] == central.key_id
    assert wire.SealingKey.from_pem(served["public_key_pem"].encode()).key_id == central.key_id


def test_after_key_rotation_items_sealed_to_the_old_key_still_open(
    central_rules: CentralService,
) -> None:
    central = central_rules
    code, user_id, codes = central.new_account()
    old_item, _ = central.make_item(
        central.pki.issue_card(),
        service_code=code,
        service_user_id=user_id,
        security_codes=codes,
        campaign_id="open",
    )
    time.sleep(0.01)
    new_key_id = write_new_sealing_key(central.directory / "sealing")
    central.stop()
    central.start()
    assert get(central, wire.SEALING_KEY_PATH)["key_id"] == new_key_id
    with central.session() as s:
        r = s.post(central.base_url + wire.BATCH_PATH, json=wire.batch_body([old_item]), timeout=30)
    assert r.json()["results"][0]["status"] == "accepted"


def test_a_heartbeat_with_wrong_types_is_refused_and_not_listed(central: CentralService) -> None:
    with central.session("K-TEST-0007") as s:
        r = s.post(central.base_url + wire.HEARTBEAT_PATH, json={"queue_depth": "many"}, timeout=10)
    assert r.status_code == 422
    assert "K-TEST-0007" not in [k["kiosk_id"] for k in get(central, wire.KIOSKS_PATH)["kiosks"]]
