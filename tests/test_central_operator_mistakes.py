"""An operator's mistake on the central service loses no enrollment (issue 12, finding 8).

When the service cannot judge an item because it lacks the sealing private key the item
names, or the CA generation its card names, it answers ``retry`` and stores nothing:
the kiosk keeps the row and delivers it once the set-up is fixed. Only the person's own
data earns a final refusal. Rows an older service refused for such a reason can be sent
again by staff. Everything here runs against the real central service over HTTPS.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from contract import wire
from offline_queue import policy
from offline_queue.delivery import DeliveryLedger
from sim.clock import SkipAheadClock
from sim.enrollments import (
    central_answers,
    central_client,
    central_outbox,
    enroll_valid,
    quick_worker,
)
from sim.pki import TestPKI
from tests.fixtures.central import CentralService, card_sign

pytest_plugins = ["tests.fixtures.central"]

pytestmark = pytest.mark.slow  # each test here takes half a second or more


def post_one(svc: CentralService, item: dict) -> dict:
    with svc.session() as s:
        r = s.post(svc.base_url + wire.BATCH_PATH, json=wire.batch_body([item]), timeout=30)
    r.raise_for_status()
    return r.json()["results"][0]


def valid_item(svc: CentralService, card: Any) -> dict:
    code, user_id, codes = svc.new_account()
    item, _ = svc.make_item(card, service_code=code, service_user_id=user_id, security_codes=codes)
    return item


def rotate_and_delete_the_old_key(svc: CentralService, parked: Path) -> None:
    """The operator's mistake: a new sealing key, and the old one deleted (moved away)."""
    from central.sealing import write_new_sealing_key

    sealing = svc.directory / "sealing"
    svc.stop()
    write_new_sealing_key(sealing)
    parked.mkdir()
    old = sealing / f"{svc.key_id}.key.pem"
    old.rename(parked / old.name)
    svc.start()


def test_rows_sealed_to_a_deleted_key_wait_and_arrive_once_it_is_restored(
    central_service: CentralService, tmp_path: Path
) -> None:
    clock = SkipAheadClock()
    db = tmp_path / "queue.sqlite3"
    with central_outbox(central_service, db) as outbox:
        queued = [enroll_valid(outbox, central_service) for _ in range(3)]
        parked = tmp_path / "parked-key"
        rotate_and_delete_the_old_key(central_service, parked)
        worker = quick_worker(db, central_client(central_service), clock=clock)
        try:
            worker.run_once()
            rows = [outbox.get(q.enrollment_id) for q in queued]
            assert [r.state for r in rows] == [policy.PENDING] * 3  # not rejected / bad_seal
            assert {r.last_error_kind for r in rows} == {policy.ERROR_ITEM_RETRY}
            assert all(r.has_sealed_data for r in rows)
            assert not set(central_answers(central_service)) & {q.enrollment_id for q in queued}

            central_service.stop()  # the operator puts the old key back
            key = next(parked.iterdir())
            key.rename(central_service.directory / "sealing" / key.name)
            central_service.start()
            clock.skip(policy.MAX_DELAY_S - 1)  # past the retry_after, not a "clock set back"
            worker.run_once()
        finally:
            worker.close()
        assert [outbox.get(q.enrollment_id).state for q in queued] == [policy.ACCEPTED] * 3


def test_a_trust_store_missing_a_generation_answers_retry_and_stores_nothing(
    central_service: CentralService, caplog: pytest.LogCaptureFixture
) -> None:
    svc = central_service
    card = svc.pki.issue_card(generation="2023")
    item = valid_item(svc, card)
    trust = svc.directory / "jpki-trust.pem"
    svc.stop()  # the operator's mistake: only the 2015 generation in the trust store
    from cryptography.hazmat.primitives import serialization

    trust.write_bytes(svc.pki.ca_certificates["2015"].public_bytes(serialization.Encoding.PEM))
    svc.start()
    first = post_one(svc, item)
    assert first["status"] == wire.RETRY and first["retry_after"] > 0
    assert item["enrollment_id"] not in central_answers(svc)
    assert "central_trust_anchor_missing" in svc.log_tail(80)
    # the card's status query cannot be judged either: 503 + Retry-After, not "untrusted"
    with svc.session() as session:
        nonce = session.post(svc.base_url + wire.STATUS_CHALLENGE_PATH, timeout=10).json()
        digest = wire.status_challenge_digest(nonce["nonce"], svc.kiosk_id)
        body = {
            "nonce": nonce["nonce"],
            "certificate": wire.b64e(card.certificate_der),
            "signature": wire.b64e(card_sign(card, digest)),
        }
        status = session.post(svc.base_url + wire.STATUS_PATH, json=body, timeout=10)
    assert status.status_code == 503 and int(status.headers["Retry-After"]) > 0

    svc.stop()  # fixed
    trust.write_bytes(svc.pki.trusted_ca_pem())
    svc.start()
    assert post_one(svc, item)["status"] == wire.ACCEPTED


def test_a_card_naming_a_trusted_ca_it_was_not_signed_by_is_refused_for_good(
    central_service: CentralService, tmp_path: Path
) -> None:
    """The person's own data: a certificate that names our CA's key but that key did not
    sign it (a forged card) is refused, not retried."""
    svc = central_service
    forger = TestPKI.create(tmp_path / "forger", generations=("2023",))
    card = forger.issue_card()
    # Make the forged card name our 2023 CA's key: re-issue it with the AKI of svc's CA.
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    ours = svc.pki.ca_certificates["2023"]
    builder = (
        x509.CertificateBuilder()
        .subject_name(card.certificate.subject)
        .issuer_name(ours.subject)
        .public_key(card.key.public_key())
        .serial_number(card.certificate.serial_number)
        .not_valid_before(card.certificate.not_valid_before_utc)
        .not_valid_after(card.certificate.not_valid_after_utc)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ours.public_key()),  # type: ignore[arg-type]
            critical=False,
        )
    )
    forged_cert = builder.sign(forger.ca_keys["2023"], hashes.SHA256())
    forged = type(card)(key=card.key, certificate=forged_cert, ca_certificate=ours)
    answer = post_one(svc, valid_item(svc, forged))
    assert (answer["status"], answer["reason"]) == (wire.REJECTED, "certificate_untrusted")


def test_staff_resend_sends_rows_refused_for_server_side_reasons_again(
    central_service: CentralService, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Rows an older central service refused as bad_seal (its key deleted) go back to
    pending on the staff action, and are then delivered; a refusal for the person's own
    data stays."""
    db = tmp_path / "queue.sqlite3"
    with central_outbox(central_service, db) as outbox:
        server_refused = [enroll_valid(outbox, central_service) for _ in range(2)]
        own_fault = enroll_valid(outbox, central_service)
        ledger = DeliveryLedger(db)
        try:  # the answers an older service gave
            items = ledger.claim_due(10)
            ledger.record_results(
                items,
                {
                    q.enrollment_id: {"status": "rejected", "reason": "bad_seal"}
                    for q in server_refused
                }
                | {own_fault.enrollment_id: {"status": "rejected", "reason": "bad_signature"}},
            )
        finally:
            ledger.close()
        for q in [*server_refused, own_fault]:
            outbox.mark_shown(q.enrollment_id)  # the person saw the refusal
        worker = quick_worker(db, central_client(central_service))
        try:
            worker.run_once()  # retention: the shown refusal of the person's own data is wiped
            assert not outbox.get(own_fault.enrollment_id).has_sealed_data
            assert outbox.count_server_refused() == 2  # these kept their seal
            with caplog.at_level(logging.INFO, logger="offline_queue.store"):
                assert outbox.resend_server_refused() == 2
            assert "staff_resend_server_refused rows=2" in caplog.text
            assert outbox.get(own_fault.enrollment_id).state == policy.REJECTED
            worker.run_once()
        finally:
            worker.close()
        assert [outbox.get(q.enrollment_id).state for q in server_refused] == ["accepted"] * 2
        assert outbox.get(own_fault.enrollment_id).reason == "bad_signature"


def test_a_refusal_an_older_version_stored_for_a_missing_ca_is_judged_afresh(
    central_service: CentralService,
) -> None:
    """Before this fix the service stored certificate_untrusted for a card of a CA
    generation missing from its trust store; once the trust store is fixed, the resend
    (staff can ask for it) must be accepted, not handed the old answer."""
    import json
    import sqlite3

    svc = central_service
    code, user_id, codes = svc.new_account()
    item, payload = svc.make_item(
        svc.pki.issue_card(), service_code=code, service_user_id=user_id, security_codes=codes
    )
    old_answer = {"status": "rejected", "reason": "certificate_untrusted"}
    conn = sqlite3.connect(svc.database_file, timeout=10)
    try:
        with conn:
            conn.execute(
                "INSERT INTO enrollments (enrollment_id, payload_digest, kiosk_id, receipt_no,"
                " status, answer, answered_at) VALUES (?, ?, ?, '', 'rejected', ?, ?)",
                (
                    item["enrollment_id"],
                    wire.payload_digest(payload).hex(),
                    svc.kiosk_id,
                    json.dumps(old_answer),
                    wire.utc_now_text(),
                ),
            )
    finally:
        conn.close()
    assert post_one(svc, item)["status"] == wire.ACCEPTED
    assert central_answers(svc)[item["enrollment_id"]] == ("accepted", 1)
