"""申込状況の確認: a person asks what they chose, proving it is their card by signing a
fresh single-use server challenge. Real service over mTLS, SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from contract import wire
from sim.pki import CardIdentity
from tests.fixtures.central import CentralService, card_sign

pytest_plugins = ["tests.fixtures.central"]


@pytest.fixture(scope="module")
def central(central_on_each_backend: Any) -> Any:
    return central_on_each_backend


def challenge(svc: CentralService, kiosk_id: str | None = None) -> str:
    with svc.session(kiosk_id) as s:
        r = s.post(svc.base_url + wire.STATUS_CHALLENGE_PATH, timeout=10)
    r.raise_for_status()
    return r.json()["nonce"]


def ask_status(
    svc: CentralService,
    card: CardIdentity,
    nonce: str,
    *,
    signer: CardIdentity | None = None,
    signed_nonce: str | None = None,
    kiosk_id: str | None = None,
) -> Any:
    digest = wire.status_challenge_digest(signed_nonce or nonce, kiosk_id or svc.kiosk_id)
    body = {
        "nonce": nonce,
        "certificate": wire.b64e(card.certificate_der),
        "signature": wire.b64e(card_sign(signer or card, digest)),
    }
    with svc.session(kiosk_id) as s:
        return s.post(svc.base_url + wire.STATUS_PATH, json=body, timeout=10)


def enroll(svc: CentralService, card: CardIdentity, service_code: str = "waon") -> dict:
    code, user_id, codes = svc.new_account(service_code)
    item, _ = svc.make_item(
        card,
        service_code=code,
        service_user_id=user_id,
        security_codes=codes,
        receipt_no="R-STATUS-1",
    )
    with svc.session() as s:
        r = s.post(svc.base_url + wire.BATCH_PATH, json=wire.batch_body([item]), timeout=30)
    return r.json()["results"][0]


@pytest.mark.slow
def test_status_shows_the_chosen_service_as_done(central: CentralService) -> None:
    card = central.pki.issue_card()
    accepted = enroll(central, card, "paypay")
    r = ask_status(central, card, challenge(central))
    assert r.status_code == 200
    status = r.json()
    assert status["mykey_id"] == accepted["mykey_id"]
    (application,) = status["applications"]
    assert application["service_code"] == "paypay"
    assert application["done"] is True
    assert application["receipt_no"] == "R-STATUS-1"


def test_status_of_a_person_who_never_applied_is_empty(central: CentralService) -> None:
    card = central.pki.issue_card()
    r = ask_status(central, card, challenge(central))
    assert r.json() == {"mykey_id": None, "applications": [], "registrations": []}


def test_a_challenge_answers_only_once(central: CentralService) -> None:
    card = central.pki.issue_card()
    nonce = challenge(central)
    assert ask_status(central, card, nonce).status_code == 200
    r = ask_status(central, card, nonce)
    assert r.status_code == 409
    assert r.json()["detail"]["reason"] == "challenge_invalid"


def test_an_invented_challenge_is_refused(central: CentralService) -> None:
    r = ask_status(central, central.pki.issue_card(), "made-up-nonce")
    assert r.status_code == 409


def test_a_signature_over_another_challenge_is_refused(central: CentralService) -> None:
    card = central.pki.issue_card()
    old, fresh = challenge(central), challenge(central)
    r = ask_status(central, card, fresh, signed_nonce=old)
    assert r.status_code == 403
    assert r.json()["detail"]["reason"] == "bad_signature"


def test_someone_elses_certificate_without_their_card_is_refused(
    central: CentralService,
) -> None:
    victim, thief = central.pki.issue_card(), central.pki.issue_card()
    enroll(central, victim)
    r = ask_status(central, victim, challenge(central), signer=thief)
    assert r.status_code == 403
    assert "applications" not in r.json()


def test_a_challenge_issued_to_another_kiosk_is_refused(central: CentralService) -> None:
    card = central.pki.issue_card()
    nonce = challenge(central, kiosk_id="K-TEST-0002")
    r = ask_status(central, card, nonce)  # answered from K-TEST-0001
    assert r.status_code == 409


def test_an_expired_certificate_cannot_ask(central: CentralService) -> None:
    now = dt.datetime.now(dt.UTC)
    card = central.pki.issue_card(
        not_before=now - dt.timedelta(days=400), not_after=now - dt.timedelta(days=1)
    )
    r = ask_status(central, card, challenge(central))
    assert r.status_code == 403
    assert r.json()["detail"]["reason"] == "certificate_expired"


def test_a_status_signature_cannot_pass_as_an_enrollment(central: CentralService) -> None:
    """The purpose tag in the digest keeps the two kinds of signature apart."""
    card = central.pki.issue_card()
    code, user_id, codes = central.new_account()
    _, payload = central.make_item(
        card, service_code=code, service_user_id=user_id, security_codes=codes
    )
    status_signature = card_sign(
        card, wire.status_challenge_digest(payload["nonce"], central.kiosk_id)
    )
    item = central.seal_item(card, payload, signature=status_signature)
    with central.session() as s:
        r = s.post(central.base_url + wire.BATCH_PATH, json=wire.batch_body([item]), timeout=30)
    assert r.json()["results"][0]["reason"] == "bad_signature"


@pytest.mark.slow
def test_a_status_request_with_bad_base64_is_a_400(central: CentralService) -> None:
    body = {"nonce": challenge(central), "certificate": "***", "signature": "***"}
    with central.session() as s:
        r = s.post(central.base_url + wire.STATUS_PATH, json=body, timeout=10)
    assert r.status_code == 400
    assert r.json()["detail"]["reason"] == "malformed"
