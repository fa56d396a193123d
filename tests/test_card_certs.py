"""The card's certificate: dates, chain to a set of JPKI CAs, and the card's signature."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from drivers.certs import (
    BadSignature,
    CertificateExpired,
    CertificateMalformed,
    CertificateNotYetValid,
    CertificateUntrusted,
    check_certificate,
    load_ca_bundle,
    verify_card_signature,
)
from sim.pki import unknown_ca_pki

pytest_plugins = ["tests.fixtures.card"]

TIMEOUT = 10
DIGEST = hashlib.sha256(b"canonical enrollment payload").digest()


def _card_sign(identity, digest: bytes) -> bytes:
    return identity.key.sign(digest, padding.PKCS1v15(), Prehashed(hashes.SHA256()))


@pytest.fixture(scope="module")
def trusted(test_pki):
    return load_ca_bundle(test_pki.trusted_ca_pem())


def test_bundle_holds_both_live_ca_generations(trusted):
    assert len(trusted) == 2


def test_certificate_from_the_current_generation_is_accepted(test_pki, trusted):
    identity = test_pki.issue_card(generation="2023")
    cert = check_certificate(identity.certificate_der, trusted)
    assert cert.subject == identity.certificate.subject


def test_certificate_from_the_older_generation_is_accepted_while_it_lives(test_pki, trusted):
    identity = test_pki.issue_card(
        generation="2015",
        not_before=dt.datetime(2023, 4, 1, tzinfo=dt.UTC),
        not_after=dt.datetime(2025, 12, 1, tzinfo=dt.UTC),
    )
    now = dt.datetime(2024, 6, 1, tzinfo=dt.UTC)
    check_certificate(identity.certificate_der, trusted, now=now)


def test_card_of_the_older_generation_stays_good_after_its_ca_expired(test_pki, trusted):
    identity = test_pki.issue_card(
        generation="2015",
        not_before=dt.datetime(2025, 6, 1, tzinfo=dt.UTC),
        not_after=dt.datetime(2030, 5, 31, tzinfo=dt.UTC),
    )
    now = dt.datetime(2027, 1, 1, tzinfo=dt.UTC)  # the 2015 CA ended 2025-12-31
    assert check_certificate(identity.certificate_der, trusted, now=now) == identity.certificate


def test_card_issued_after_its_ca_expired_is_untrusted(test_pki, trusted):
    identity = test_pki.issue_card(
        generation="2015",
        not_before=dt.datetime(2026, 2, 1, tzinfo=dt.UTC),
        not_after=dt.datetime(2030, 1, 31, tzinfo=dt.UTC),
    )
    now = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
    with pytest.raises(CertificateUntrusted) as untrusted:
        check_certificate(identity.certificate_der, trusted, now=now)
    assert untrusted.value.kind == "certificate_untrusted"


def test_card_issued_before_its_ca_existed_is_untrusted(test_pki, trusted):
    identity = test_pki.issue_card(
        generation="2023",
        not_before=dt.datetime(2022, 6, 1, tzinfo=dt.UTC),
        not_after=dt.datetime(2027, 5, 31, tzinfo=dt.UTC),
    )
    now = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    with pytest.raises(CertificateUntrusted):
        check_certificate(identity.certificate_der, trusted, now=now)


@pytest.mark.slow
def test_expired_card_read_through_the_reader_is_refused_as_expired(
    make_virtual_card, pcscd, trusted, card_events
):
    from drivers.reader import CardService

    make_virtual_card(expired=True)
    service = CardService(pcscd.reader_name, card_events)
    service.start()
    try:
        card_events.wait_for("card_placed")
        der = service.read_certificate().result(TIMEOUT)
    finally:
        service.stop()
    with pytest.raises(CertificateExpired) as expired:
        check_certificate(der, trusted)
    assert expired.value.kind == "certificate_expired"


def test_certificate_not_valid_yet_is_refused(test_pki, trusted):
    identity = test_pki.issue_card()
    before = identity.certificate.not_valid_before_utc - dt.timedelta(days=1)
    with pytest.raises(CertificateNotYetValid):
        check_certificate(identity.certificate_der, trusted, now=before)


def test_certificate_from_an_unknown_ca_with_the_same_name_is_untrusted(tmp_path, trusted):
    stranger = unknown_ca_pki(tmp_path).issue_card()
    with pytest.raises(CertificateUntrusted) as untrusted:
        check_certificate(stranger.certificate_der, trusted)
    assert untrusted.value.kind == "certificate_untrusted"


def test_no_trusted_ca_means_untrusted(test_pki):
    with pytest.raises(CertificateUntrusted):
        check_certificate(test_pki.issue_card().certificate_der, [])


def test_bytes_that_are_not_a_certificate_are_reported_malformed(trusted):
    with pytest.raises(CertificateMalformed):
        check_certificate(b"\x30\x82\x01\x00" + b"\x00" * 256, trusted)


def test_signature_by_the_card_verifies(test_pki):
    identity = test_pki.issue_card()
    verify_card_signature(identity.certificate, DIGEST, _card_sign(identity, DIGEST))


def test_signature_of_another_payload_is_a_bad_signature(test_pki):
    identity = test_pki.issue_card()
    other = _card_sign(identity, hashlib.sha256(b"another payload").digest())
    with pytest.raises(BadSignature) as bad:
        verify_card_signature(identity.certificate, DIGEST, other)
    assert bad.value.kind == "bad_signature"


def test_signature_by_another_card_is_a_bad_signature(test_pki):
    mine, theirs = test_pki.issue_card(), test_pki.issue_card()
    with pytest.raises(BadSignature):
        verify_card_signature(mine.certificate, DIGEST, _card_sign(theirs, DIGEST))


def test_truncated_signature_is_a_bad_signature(test_pki):
    identity = test_pki.issue_card()
    with pytest.raises(BadSignature):
        verify_card_signature(identity.certificate, DIGEST, _card_sign(identity, DIGEST)[:-1])
