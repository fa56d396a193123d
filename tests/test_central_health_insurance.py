"""健康保険証の利用申込み at the real central service (HTTPS, mutual TLS, SQLite): the reference
insurer's three answers with the store's one-registration-per-card rule, idempotency by
id like an enrollment, the round-2 points rule, and the status listing both procedures."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import pytest

from contract import wire
from tests.fixtures.central import CentralService, card_sign

pytest_plugins = ["tests.fixtures.central"]

pytestmark = pytest.mark.slow  # each test here takes half a second or more

DATA = Path(__file__).resolve().parent.parent / "kiosk" / "data"


@pytest.fixture(scope="module")
def central(central_for_module: Any) -> CentralService:
    return central_for_module


def post(svc: CentralService, items: list[dict]) -> list[dict]:
    with svc.session() as s:
        r = s.post(svc.base_url + wire.BATCH_PATH, json=wire.batch_body(items), timeout=30)
    r.raise_for_status()
    return r.json()["results"]


def one(svc: CentralService, item: dict) -> dict:
    (result,) = post(svc, [item])
    return result


def status_of(svc: CentralService, card: Any) -> dict:
    with svc.session() as s:
        nonce = s.post(svc.base_url + wire.STATUS_CHALLENGE_PATH, timeout=10).json()["nonce"]
        digest = wire.status_challenge_digest(nonce, svc.kiosk_id)
        body = {
            "nonce": nonce,
            "certificate": wire.b64e(card.certificate_der),
            "signature": wire.b64e(card_sign(card, digest)),
        }
        r = s.post(svc.base_url + wire.STATUS_PATH, json=body, timeout=10)
    r.raise_for_status()
    return r.json()


def test_registered_then_a_second_registration_is_already_registered(
    central: CentralService,
) -> None:
    card = central.pki.issue_card()
    item, _ = central.make_procedure_item(card)
    first = one(central, item)
    assert (first["status"], first["procedure"], first["points"]) == (
        "accepted",
        "health_insurance",
        0,
    )
    assert one(central, item) == first  # a resend: the stored answer
    again, _ = central.make_procedure_item(card)
    assert one(central, again) == {
        "enrollment_id": again["enrollment_id"],
        "status": "rejected",
        "reason": "already_registered",
    }


def test_registered_elsewhere_is_already_registered(central: CentralService) -> None:
    card = central.pki.issue_card()
    central.set_insurer(card, "registered")
    item, _ = central.make_procedure_item(card)
    assert one(central, item)["reason"] == "already_registered"


def test_insurer_not_covered_is_answered_and_kept_for_the_resend(central: CentralService) -> None:
    card = central.pki.issue_card()
    central.set_insurer(card, "not_covered")
    item, _ = central.make_procedure_item(card)
    first = one(central, item)
    assert (first["status"], first["reason"]) == ("rejected", "insurer_not_covered")
    central.set_insurer(card, "covered")  # the answer for this id stays the stored one
    assert one(central, item) == first


def test_insurer_in_maintenance_is_retry_and_nothing_is_stored(central: CentralService) -> None:
    card = central.pki.issue_card()
    item, _ = central.make_procedure_item(card)
    central.set_insurer_unavailable(True)
    try:
        assert one(central, item)["status"] == "retry"
    finally:
        central.set_insurer_unavailable(False)
    assert one(central, item)["status"] == "accepted"


def test_same_id_with_another_payload_is_a_conflict(central: CentralService) -> None:
    card = central.pki.issue_card()
    item, payload = central.make_procedure_item(card)
    assert one(central, item)["status"] == "accepted"
    other = central.seal_item(card, dict(payload, nonce=secrets.token_hex(16)))
    assert one(central, other)["status"] == "conflict"


def test_an_unknown_procedure_and_a_bad_consent_are_refused(central: CentralService) -> None:
    card = central.pki.issue_card()
    _, payload = central.make_procedure_item(card)
    unknown = central.seal_item(card, dict(payload, procedure="teleport"))
    assert one(central, unknown)["reason"] == "procedure_unknown"
    _, payload = central.make_procedure_item(card)
    no_consent = {k: v for k, v in payload.items() if k != "consent_version"}
    assert one(central, central.seal_item(card, no_consent))["reason"] == "malformed"


def test_the_status_lists_the_application_and_the_registration(central: CentralService) -> None:
    card = central.pki.issue_card()
    code, user_id, codes = central.new_account("waon")
    item, _ = central.make_item(
        card, service_code=code, service_user_id=user_id, security_codes=codes
    )
    registration, _ = central.make_procedure_item(card)
    assert [r["status"] for r in post(central, [item, registration])] == ["accepted"] * 2
    status = status_of(central, card)
    assert [a["service_code"] for a in status["applications"]] == ["waon"]
    assert [r["procedure"] for r in status["registrations"]] == ["health_insurance"]
    fresh = status_of(central, central.pki.issue_card())
    assert (fresh["applications"], fresh["registrations"]) == ([], [])


def test_round_two_points_go_only_to_a_person_with_a_mynapoint_application(
    tmp_path: Path, jpki: Any
) -> None:
    from sim.central import start_central

    svc = start_central(
        tmp_path,
        pki=jpki,
        campaigns_file=DATA / "campaigns.toml",
        services_file=DATA / "services.toml",
    )
    try:
        created = "2022-07-01T01:00:00Z"
        applicant, other = svc.pki.issue_card(), svc.pki.issue_card()
        code, user_id, codes = svc.new_account("waon")
        payload = wire.new_payload(
            kiosk_id=svc.kiosk_id,
            campaign_id="2022-card",
            service_code=code,
            service_user_id=user_id,
            security_codes=codes,
            created_at=created,
        )
        assert one(svc, svc.seal_item(applicant, payload))["status"] == "accepted"
        answers = []
        for card in (applicant, other):
            _, reg = svc.make_procedure_item(card, campaign_id="2022-health-insurance")
            reg["created_at"] = created
            answers.append(one(svc, svc.seal_item(card, reg)))
        assert [a["points"] for a in answers] == [7500, 0]
        assert answers[1]["points_reason"] == "needs_mynapoint_application"
        # and the 健康保険証 campaign is no payment-service campaign
        wrong = dict(
            payload,
            campaign_id="2022-health-insurance",
            enrollment_id=wire.new_payload(
                kiosk_id="x", campaign_id="", service_code="", service_user_id="", security_codes=[]
            )["enrollment_id"],
            nonce=secrets.token_hex(16),
        )
        assert one(svc, svc.seal_item(other, wrong))["reason"] == "campaign_closed"
    finally:
        svc.stop()
