"""The card service against a real pcscd, the vpcd reader and the virtual My Number Card."""

from __future__ import annotations

import hashlib

import pytest

from drivers import card
from drivers.certs import check_certificate, load_ca_bundle, verify_card_signature

TIMEOUT = 10


def test_reads_the_user_auth_certificate_of_the_card_in_the_reader(card_service, virtual_card):
    der = card_service.read_certificate().result(TIMEOUT)
    assert der == virtual_card.model.identity.certificate_der


def test_tries_left_is_three_on_a_fresh_card(card_service):
    assert card_service.pin_tries_left().result(TIMEOUT) == 3


def test_signature_with_the_right_pin_verifies_against_the_certificate(card_service, test_pki):
    digest = hashlib.sha256(b"enrollment").digest()
    signature = card_service.sign(bytearray(b"1234"), digest).result(TIMEOUT)
    der = card_service.read_certificate().result(TIMEOUT)
    cert = check_certificate(der, load_ca_bundle(test_pki.trusted_ca_pem()))
    verify_card_signature(cert, digest, signature)


def test_wrong_pin_counts_down(card_service, virtual_card):
    digest = hashlib.sha256(b"x").digest()
    with pytest.raises(card.PinIncorrect) as wrong:
        card_service.sign(bytearray(b"9999"), digest).result(TIMEOUT)
    assert wrong.value.tries_left == 2
    assert card_service.pin_tries_left().result(TIMEOUT) == 2
