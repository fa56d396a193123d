"""The reference central service, as a kiosk meets it: a real subprocess over HTTPS with
mutual TLS on loopback, enrollments signed by TestPKI card keys exactly as the card
signs (PKCS#1 v1.5 over the SHA-256 digest). Every enrollment test runs on SQLite and on
PostgreSQL (a throwaway cluster)."""

from __future__ import annotations

import datetime as dt
import secrets
import socket
import ssl
import subprocess
from pathlib import Path
from typing import Any

import pytest
import requests

from contract import wire
from sim.pki import TestPKI, unknown_ca_pki
from tests.fixtures.central import CentralService, card_sign, start_central

pytest_plugins = ["tests.fixtures.central"]


@pytest.fixture(scope="module")
def central(central_on_each_backend: Any) -> Any:
    return central_on_each_backend


@pytest.fixture(scope="module")
def central_sqlite(tmp_path_factory: pytest.TempPathFactory, jpki: TestPKI) -> Any:
    service = start_central(tmp_path_factory.mktemp("central-tls"), pki=jpki)
    try:
        yield service
    finally:
        service.stop()


def post_batch(svc: CentralService, items: list[dict], kiosk_id: str | None = None) -> list[dict]:
    with svc.session(kiosk_id) as s:
        r = s.post(svc.base_url + wire.BATCH_PATH, json=wire.batch_body(items), timeout=30)
    r.raise_for_status()
    return r.json()["results"]


def enroll_one(svc: CentralService, item: dict) -> dict:
    (result,) = post_batch(svc, [item])
    return result


def valid_item(svc: CentralService, card: Any = None, **kw: Any) -> tuple[dict, dict]:
    card = card or svc.pki.issue_card()
    code, user_id, codes = svc.new_account(kw.pop("service_code", "waon"))
    return svc.make_item(
        card, service_code=code, service_user_id=user_id, security_codes=codes, **kw
    )


# -- accepted, idempotent -----------------------------------------------------------------
@pytest.mark.slow
def test_online_enrollment_is_accepted_with_a_mykey_id(central: CentralService) -> None:
    item, _ = valid_item(central)
    result = enroll_one(central, item)
    assert result["enrollment_id"] == item["enrollment_id"]
    assert result["status"] == "accepted"
    assert result["service_code"] == "waon"
    assert len(result["mykey_id"]) == 8 and result["mykey_id"].isalnum()


def test_resend_of_the_same_enrollment_gets_the_stored_answer(central: CentralService) -> None:
    item, _ = valid_item(central)
    first = enroll_one(central, item)
    assert enroll_one(central, item) == first


@pytest.mark.slow
def test_stored_answer_survives_a_crash_of_the_service(central: CentralService) -> None:
    item, _ = valid_item(central)
    first = enroll_one(central, item)
    central.kill()
    central.start()
    assert enroll_one(central, item) == first


def test_same_id_with_another_payload_is_a_conflict(central: CentralService) -> None:
    card = central.pki.issue_card()
    item, payload = valid_item(central, card)
    assert enroll_one(central, item)["status"] == "accepted"
    other = dict(payload, service_code="paypay", nonce=secrets.token_hex(16))
    result = enroll_one(central, central.seal_item(card, other))
    assert result == {"enrollment_id": item["enrollment_id"], "status": "conflict"}


def test_put_of_a_conflicting_payload_answers_422(central: CentralService) -> None:
    card = central.pki.issue_card()
    item, payload = valid_item(central, card)
    url = central.base_url + wire.ITEM_PATH.format(enrollment_id=item["enrollment_id"])
    with central.session() as s:
        assert s.put(url, json=item, timeout=30).json()["status"] == "accepted"
        other = central.seal_item(card, dict(payload, nonce=secrets.token_hex(16)))
        r = s.put(url, json=other, timeout=30)
    assert r.status_code == 422
    assert r.json()["status"] == "conflict"


def test_a_card_of_the_older_ca_generation_is_accepted(central: CentralService) -> None:
    """Issued while the 2015 CA was valid, still in date itself (the chain model)."""
    card = central.pki.issue_card(
        generation="2015",
        not_before=dt.datetime(2025, 6, 1, tzinfo=dt.UTC),
        not_after=dt.datetime.now(dt.UTC) + dt.timedelta(days=365),
    )
    assert enroll_one(central, valid_item(central, card)[0])["status"] == "accepted"


def test_a_card_issued_after_its_ca_expired_is_untrusted(central: CentralService) -> None:
    card = central.pki.issue_card(generation="2015")  # issued now; the 2015 CA ended 2025
    if card.ca_certificate.not_valid_after_utc > card.certificate.not_valid_before_utc:
        pytest.skip("the 2015 test CA is still valid on this clock")
    assert enroll_one(central, valid_item(central, card)[0])["reason"] == "certificate_untrusted"


# -- programme rules ----------------------------------------------------------------------
def test_second_enrollment_of_a_person_is_already_applied_with_the_chosen_service(
    central: CentralService,
) -> None:
    card = central.pki.issue_card()
    first, _ = valid_item(central, card, service_code="waon")
    assert enroll_one(central, first)["status"] == "accepted"
    second, _ = valid_item(central, card, service_code="paypay")
    result = enroll_one(central, second)
    assert result["status"] == "rejected"
    assert result["reason"] == "already_applied"
    assert result["service_code"] == "waon"


def test_same_person_keeps_one_mykey_id_across_campaigns(central: CentralService) -> None:
    card = central.pki.issue_card()
    a = enroll_one(central, valid_item(central, card, campaign_id="2020-card")[0])
    b = enroll_one(central, valid_item(central, card, campaign_id="2022-card")[0])
    assert a["status"] == b["status"] == "accepted"
    assert a["mykey_id"] == b["mykey_id"]


def test_account_linked_to_another_person_is_rejected(central: CentralService) -> None:
    code, user_id, codes = central.new_account()
    alice, bob = central.pki.issue_card(), central.pki.issue_card()
    item_a, _ = central.make_item(
        alice, service_code=code, service_user_id=user_id, security_codes=codes
    )
    item_b, _ = central.make_item(
        bob, service_code=code, service_user_id=user_id, security_codes=codes
    )
    assert enroll_one(central, item_a)["status"] == "accepted"
    result = enroll_one(central, item_b)
    assert (result["status"], result["reason"]) == ("rejected", "account_already_linked")


def test_account_unknown_to_the_provider_is_not_confirmed(central: CentralService) -> None:
    item, _ = central.make_item(central.pki.issue_card(), service_user_id="0000000000000000")
    result = enroll_one(central, item)
    assert (result["status"], result["reason"]) == ("rejected", "account_not_confirmed")


def test_wrong_security_code_is_not_confirmed(central: CentralService) -> None:
    code, user_id, _ = central.new_account()
    item, _ = central.make_item(
        central.pki.issue_card(),
        service_code=code,
        service_user_id=user_id,
        security_codes=["0000"],
    )
    assert enroll_one(central, item)["reason"] == "account_not_confirmed"


def test_provider_down_answers_retry_and_the_resend_is_accepted(central: CentralService) -> None:
    item, _ = valid_item(central)
    central.set_provider_unavailable(True)
    try:
        result = enroll_one(central, item)
    finally:
        central.set_provider_unavailable(False)
    assert result["status"] == "retry" and result["retry_after"] > 0
    assert enroll_one(central, item)["status"] == "accepted"


def test_a_bad_item_does_not_block_the_rest_of_a_batch(central: CentralService) -> None:
    good1, _ = valid_item(central)
    good2, _ = valid_item(central)
    broken = dict(good1, enrollment_id="not-a-uuid")
    results = post_batch(central, [good1, broken, {"junk": True}, good2])
    assert [r["status"] for r in results] == ["accepted", "rejected", "rejected", "accepted"]
    assert results[1]["reason"] == results[2]["reason"] == "malformed"


# -- forgery and bad certificates ---------------------------------------------------------
def test_tampered_payload_is_rejected_as_bad_signature(central: CentralService) -> None:
    card = central.pki.issue_card()
    _, payload = valid_item(central, card)
    signature = card_sign(card, wire.payload_digest(payload))
    tampered = dict(payload, service_user_id="9999999999999999")
    result = enroll_one(central, central.seal_item(card, tampered, signature=signature))
    assert (result["status"], result["reason"]) == ("rejected", "bad_signature")


def test_signature_by_another_card_is_rejected(central: CentralService) -> None:
    card, thief = central.pki.issue_card(), central.pki.issue_card()
    _, payload = valid_item(central, card)
    forged = card_sign(thief, wire.payload_digest(payload))
    result = enroll_one(central, central.seal_item(card, payload, signature=forged))
    assert result["reason"] == "bad_signature"


def test_certificate_from_an_unknown_ca_is_retried_and_not_stored(
    central: CentralService, tmp_path: Path
) -> None:
    """A CA key the trust store lacks may be a generation the operator forgot to install:
    no final answer for the person (issue 12, finding 8), nothing stored."""
    stranger = unknown_ca_pki(tmp_path / "stranger").issue_card()
    item, _ = valid_item(central, stranger)
    assert enroll_one(central, item)["status"] == "retry"
    assert enroll_one(central, item)["status"] == "retry"


def test_expired_certificate_is_rejected(central: CentralService) -> None:
    now = dt.datetime.now(dt.UTC)
    card = central.pki.issue_card(
        not_before=now - dt.timedelta(days=400), not_after=now - dt.timedelta(days=1)
    )
    item, _ = valid_item(central, card)
    assert enroll_one(central, item)["reason"] == "certificate_expired"


def test_revoked_certificate_is_rejected(central: CentralService) -> None:
    card = central.pki.issue_card()
    central.revoke(card)
    item, _ = valid_item(central, card)
    assert enroll_one(central, item)["reason"] == "certificate_revoked"


def test_revocation_of_another_card_leaves_this_one_valid(central: CentralService) -> None:
    central.revoke(central.pki.issue_card())
    item, _ = valid_item(central)
    assert enroll_one(central, item)["status"] == "accepted"


def test_seal_that_was_tampered_with_is_bad_seal(central: CentralService) -> None:
    item, _ = valid_item(central)
    sealed = bytearray(wire.b64d(item["sealed"]))
    sealed[-1] ^= 1
    result = enroll_one(central, dict(item, sealed=wire.b64e(bytes(sealed))))
    assert result["reason"] == "bad_seal"


def test_seal_moved_to_another_enrollment_id_is_bad_seal(central: CentralService) -> None:
    item, _ = valid_item(central)
    other_id = "00000000-0000-4000-8000-000000000001"
    assert enroll_one(central, dict(item, enrollment_id=other_id))["reason"] == "bad_seal"


def test_item_sent_by_another_kiosk_is_rejected(central: CentralService) -> None:
    item, _ = valid_item(central)
    result = post_batch(central, [item], kiosk_id="K-TEST-0002")[0]
    assert result["reason"] == "kiosk_mismatch"


def test_item_whose_sealed_payload_names_another_kiosk_is_rejected(
    central: CentralService,
) -> None:
    item, _ = valid_item(central, kiosk_id="K-TEST-0002")
    relabelled = dict(item, kiosk_id=central.kiosk_id)  # outer label matches, payload does not
    assert enroll_one(central, relabelled)["reason"] == "kiosk_mismatch"


# -- transport ------------------------------------------------------------------------------
@pytest.mark.slow
def test_client_without_a_certificate_is_refused_at_tls(central_sqlite: CentralService) -> None:
    """With TLS 1.2 the refusal is the handshake itself failing."""
    context = ssl.create_default_context(cafile=str(central_sqlite.ca_cert))
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    with socket.create_connection(("127.0.0.1", central_sqlite.port), timeout=10) as raw:
        with pytest.raises(ssl.SSLError):
            context.wrap_socket(raw, server_hostname="127.0.0.1")


def test_tls13_client_without_a_certificate_gets_no_http_answer(
    central_sqlite: CentralService,
) -> None:
    """TLS 1.3 finishes the client's side first; the server then drops the connection."""
    context = ssl.create_default_context(cafile=str(central_sqlite.ca_cert))
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    with socket.create_connection(("127.0.0.1", central_sqlite.port), timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            try:
                tls.sendall(b"GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n")
                answer = tls.recv(1024)
            except (ssl.SSLError, ConnectionError):
                answer = b""
    assert answer == b""


def test_requests_without_a_client_certificate_get_no_answer(
    central_sqlite: CentralService,
) -> None:
    with requests.Session() as s:
        s.trust_env = False
        with pytest.raises(requests.exceptions.ConnectionError):
            s.get(
                central_sqlite.base_url + "/v1/health",
                verify=str(central_sqlite.ca_cert),
                timeout=10,
            )
    with central_sqlite.session() as s:  # the same server answers a kiosk with a certificate
        assert s.get(central_sqlite.base_url + "/v1/health", timeout=10).ok


def test_client_certificate_from_another_ca_is_refused(
    central_sqlite: CentralService, tmp_path: Path
) -> None:
    from central.devcerts import DevTLS

    rogue = DevTLS.create(tmp_path / "rogue")
    cert, key = rogue.issue_kiosk("K-TEST-0001")
    with requests.Session() as s:
        s.trust_env = False
        with pytest.raises(requests.exceptions.ConnectionError):
            s.get(
                central_sqlite.base_url + "/v1/health",
                verify=str(central_sqlite.ca_cert),
                cert=(str(cert), str(key)),
                timeout=10,
            )


def test_tls_is_refused_by_openssl_without_a_client_certificate(
    central_sqlite: CentralService,
) -> None:
    """The same refusal seen by a second TLS stack (openssl s_client), not only requests."""
    done = subprocess.run(
        [
            "openssl",
            "s_client",
            "-connect",
            f"127.0.0.1:{central_sqlite.port}",
            "-CAfile",
            str(central_sqlite.ca_cert),
            "-quiet",
        ],
        input=b"GET /v1/health HTTP/1.0\r\n\r\n",
        capture_output=True,
        timeout=20,
    )
    assert b'"ok"' not in done.stdout


def test_openapi_description_is_served_when_configured(central_factory: Any, jpki: TestPKI) -> None:
    service = central_factory(pki=jpki, openapi=True)
    with service.session() as s:
        spec = s.get(service.base_url + "/openapi.json", timeout=10).json()
    assert wire.BATCH_PATH in spec["paths"] and wire.STATUS_PATH in spec["paths"]


def test_server_presents_a_certificate_for_loopback(central_sqlite: CentralService) -> None:
    context = ssl.create_default_context(cafile=str(central_sqlite.ca_cert))
    context.load_cert_chain(str(central_sqlite.client_cert), str(central_sqlite.client_key))
    with socket.create_connection(("127.0.0.1", central_sqlite.port), timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname="localhost") as tls:
            assert tls.getpeercert()["subjectAltName"]


def test_a_batch_over_the_limit_is_refused_whole(central_sqlite: CentralService) -> None:
    item, _ = valid_item(central_sqlite)
    too_many = [item] * (wire.MAX_BATCH_ITEMS + 1)
    with central_sqlite.session() as s:
        r = s.post(
            central_sqlite.base_url + wire.BATCH_PATH, json=wire.batch_body(too_many), timeout=60
        )
    assert r.status_code == 413


def test_put_with_an_id_other_than_the_path_is_refused(central_sqlite: CentralService) -> None:
    item, _ = valid_item(central_sqlite)
    url = central_sqlite.base_url + wire.ITEM_PATH.format(
        enrollment_id="00000000-0000-4000-8000-000000000001"
    )
    with central_sqlite.session() as s:
        assert s.put(url, json=item, timeout=30).status_code == 400


def test_a_batch_body_that_is_not_json_items_is_a_422(central_sqlite: CentralService) -> None:
    with central_sqlite.session() as s:
        r = s.post(central_sqlite.base_url + wire.BATCH_PATH, json={"items": "nope"}, timeout=30)
    assert r.status_code == 422


def test_two_items_of_one_person_in_one_batch_accept_one(central: CentralService) -> None:
    card = central.pki.issue_card()
    first, _ = valid_item(central, card, service_code="waon")
    second, _ = valid_item(central, card, service_code="paypay")
    results = post_batch(central, [first, second])
    assert [r["status"] for r in results] == ["accepted", "rejected"]
    assert (results[1]["reason"], results[1]["service_code"]) == ("already_applied", "waon")


def test_the_same_item_twice_in_one_batch_gets_one_answer(central: CentralService) -> None:
    item, _ = valid_item(central)
    first, second = post_batch(central, [item, item])
    assert first == second and first["status"] == "accepted"


def test_put_while_the_provider_is_down_answers_503_with_retry_after(
    central: CentralService,
) -> None:
    item, _ = valid_item(central)
    url = central.base_url + wire.ITEM_PATH.format(enrollment_id=item["enrollment_id"])
    central.set_provider_unavailable(True)
    try:
        with central.session() as s:
            r = s.put(url, json=item, timeout=30)
    finally:
        central.set_provider_unavailable(False)
    assert r.status_code == 503
    assert int(r.headers["Retry-After"]) > 0


def test_a_batch_of_only_retries_carries_retry_after(central: CentralService) -> None:
    item, _ = valid_item(central)
    central.set_provider_unavailable(True)
    try:
        with central.session() as s:
            r = s.post(central.base_url + wire.BATCH_PATH, json=wire.batch_body([item]), timeout=30)
    finally:
        central.set_provider_unavailable(False)
    assert int(r.headers["Retry-After"]) > 0


def test_a_signed_payload_with_too_many_security_codes_is_malformed(
    central: CentralService,
) -> None:
    item, _ = central.make_item(central.pki.issue_card(), security_codes=["1"] * 4)
    assert enroll_one(central, item)["reason"] == "malformed"


def test_a_payload_of_an_unknown_wire_version_is_malformed(central: CentralService) -> None:
    card = central.pki.issue_card()
    _, payload = valid_item(central, card)
    item = central.seal_item(card, dict(payload, v=wire.WIRE_VERSION + 1))
    assert enroll_one(central, item)["reason"] == "malformed"


def test_an_oversized_seal_is_malformed(central: CentralService) -> None:
    item, _ = valid_item(central)
    huge = dict(item, sealed=wire.b64e(b"\0" * 100_000))
    assert enroll_one(central, huge)["reason"] == "malformed"
