"""Bodies and certificates the central service cannot use come back as typed refusals,
never as a 500: a card certificate whose key is of an algorithm nobody knows, NaN or
Infinity in a body that fails validation (FastAPI would echo them, and JSON cannot carry
them back)."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from contract import wire
from sim.pki import CardIdentity, TestPKI
from tests.fixtures.central import CentralService, card_sign

pytest_plugins = ["tests.fixtures.central"]

RSA_ENCRYPTION = bytes.fromhex("06092a864886f70d010101")  # OID 1.2.840.113549.1.1.1
UNKNOWN_ALGORITHM = bytes.fromhex("06092a864886f70d010163")  # 1.2.840.113549.1.1.99
SHA256_WITH_RSA = bytes.fromhex("300d06092a864886f70d01010b0500")


@pytest.fixture(scope="module")
def central(central_for_module: CentralService) -> CentralService:
    return central_for_module


def _der(tag: int, content: bytes) -> bytes:
    n = len(content)
    if n < 0x80:
        return bytes([tag, n]) + content
    length = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(length)]) + length + content


def card_with_unknown_key_algorithm(pki: TestPKI) -> tuple[CardIdentity, CardIdentity]:
    """(a genuine card, the same certificate with its key's algorithm OID replaced by one
    no library knows, signed again by the genuine CA)."""
    card = pki.issue_card()
    tbs = card.certificate.tbs_certificate_bytes
    assert tbs.count(RSA_ENCRYPTION) == 1
    tbs = tbs.replace(RSA_ENCRYPTION, UNKNOWN_ALGORITHM)
    signature = pki.ca_keys["2023"].sign(tbs, padding.PKCS1v15(), hashes.SHA256())
    der = _der(0x30, tbs + SHA256_WITH_RSA + _der(0x03, b"\0" + signature))
    odd = x509.load_der_x509_certificate(der)
    return card, CardIdentity(key=card.key, certificate=odd, ca_certificate=card.ca_certificate)


def post(svc: CentralService, path: str, **kwargs: Any) -> Any:
    with svc.session() as s:
        return s.post(svc.base_url + path, timeout=30, **kwargs)


def test_an_enrollment_with_a_key_of_an_unknown_algorithm_is_bad_signature(
    central: CentralService,
) -> None:
    card, odd = card_with_unknown_key_algorithm(central.pki)
    code, user_id, codes = central.new_account()
    _, payload = central.make_item(
        card, service_code=code, service_user_id=user_id, security_codes=codes
    )
    item = central.seal_item(odd, payload, signature=card_sign(card, wire.payload_digest(payload)))
    r = post(central, wire.BATCH_PATH, json=wire.batch_body([item]))
    assert r.status_code == 200
    (result,) = r.json()["results"]
    assert (result["status"], result["reason"]) == ("rejected", "bad_signature")


def test_a_status_query_with_a_key_of_an_unknown_algorithm_is_refused(
    central: CentralService,
) -> None:
    _, odd = card_with_unknown_key_algorithm(central.pki)
    nonce = post(central, wire.STATUS_CHALLENGE_PATH).json()["nonce"]
    body = {
        "nonce": nonce,
        "certificate": wire.b64e(odd.certificate_der),
        "signature": wire.b64e(b"\1" * 256),
    }
    r = post(central, wire.STATUS_PATH, json=body)
    assert (r.status_code, r.json()) == (403, {"detail": {"reason": "bad_signature"}})


@pytest.mark.parametrize(
    ("path", "body", "where"),
    [
        (wire.HEARTBEAT_PATH, b'{"queue_depth": NaN}', ["body", "queue_depth"]),
        (wire.HEARTBEAT_PATH, b'{"printer": Infinity}', ["body", "printer"]),
        (wire.BATCH_PATH, b'{"items": -Infinity}', ["body", "BatchRequest", "items"]),
        (
            wire.STATUS_PATH,
            b'{"nonce": NaN, "certificate": "", "signature": ""}',
            ["body", "nonce"],
        ),
    ],
)
def test_nan_or_infinity_in_an_invalid_body_is_a_typed_422(
    central: CentralService, path: str, body: bytes, where: list[str]
) -> None:
    r = post(central, path, data=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 422
    errors = r.json()["detail"]
    assert where in [e["loc"] for e in errors]
    assert all(set(e) == {"type", "loc", "msg"} for e in errors)  # the value is not echoed


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        # no route: an empty id is not an enrollment id (the fast path must not take it)
        ("PUT", "/v1/enrollments/", b'{"enrollment_id": ""}', 404),
        ("PUT", "/v1/enrollments/a/b", b'{"enrollment_id": "a/b"}', 404),
        # the id in the body is not the path's
        ("PUT", "/v1/enrollments/x", b'{"enrollment_id": "y"}', 400),
        # items that are not objects
        ("POST", wire.BATCH_PATH, b'{"items": [1, "two"]}', 422),
        ("POST", wire.BATCH_PATH, b"[[]]", 422),
    ],
)
def test_requests_the_fast_path_leaves_to_the_routes_get_their_answers(
    central: CentralService, method: str, path: str, body: bytes, status: int
) -> None:
    """central/app.py answers well-formed enrollments itself (IngestFastPath); anything
    else must get the FastAPI routes' answer, as before it existed."""
    with central.session() as s:
        r = s.request(
            method,
            central.base_url + path,
            data=body,
            headers={"Content-Type": "application/json"},
            timeout=30,
        )
    assert r.status_code == status, r.text
    assert "detail" in r.json()
