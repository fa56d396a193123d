"""Two JPKI CA generations that share one DN (as real generations may): the issuer of a
card is the CA key that signed it, not only its name. Serial numbers are unique only per
CA, so two people whose cards carry the same serial under the two generations are two
people, and a CRL of one generation revokes nothing of the other."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from contract import wire
from sim.pki import CardIdentity, TestPKI, unknown_ca_pki
from tests.fixtures.central import CentralService, start_central

pytestmark = pytest.mark.slow  # each test here takes half a second or more

SERIAL = 0x4D594E41504F494E54  # the same serial under both CA keys


def card_with_serial(pki: TestPKI, serial: int) -> CardIdentity:
    """A card of the 2023 generation of ``pki`` with a chosen serial number."""
    return pki.issue_card("2023", opaque_id=f"SAME{serial:x}"[:20], serial=serial)


@pytest.fixture
def central(tmp_path: Path) -> Any:
    """A service trusting two CAs with one DN: ``pki`` 2023 and ``other`` 2023."""
    pki = TestPKI.create(tmp_path / "jpki")
    other = unknown_ca_pki(tmp_path / "other")  # same DN shape, another key
    assert other.ca_certificates["2023"].subject == pki.ca_certificates["2023"].subject
    svc = start_central(tmp_path, pki=pki)
    trust = svc.directory / "jpki-trust.pem"
    trust.write_bytes(trust.read_bytes() + other.trusted_ca_pem())
    svc.stop()
    svc.start()
    try:
        yield svc, other
    finally:
        svc.stop()


def enroll(svc: CentralService, card: CardIdentity) -> dict:
    code, user_id, codes = svc.new_account()
    item, _ = svc.make_item(card, service_code=code, service_user_id=user_id, security_codes=codes)
    with svc.session() as s:
        r = s.post(svc.base_url + wire.BATCH_PATH, json=wire.batch_body([item]), timeout=30)
    return r.json()["results"][0]


def test_same_serial_under_two_same_named_cas_is_two_people(central: Any) -> None:
    svc, other = central
    first = enroll(svc, card_with_serial(svc.pki, SERIAL))
    second = enroll(svc, card_with_serial(other, SERIAL))
    assert first["status"] == second["status"] == "accepted"
    assert first["mykey_id"] != second["mykey_id"]


def test_a_crl_revokes_the_serial_only_under_its_own_ca(central: Any) -> None:
    svc, other = central
    svc.revoke(SERIAL, generation="2023")  # the CRL of svc.pki's 2023 CA
    assert enroll(svc, card_with_serial(svc.pki, SERIAL))["reason"] == "certificate_revoked"
    assert enroll(svc, card_with_serial(other, SERIAL))["status"] == "accepted"
