"""The virtual card holds the whole JPKI application, signing side included, and answers
it as a real card does; standard PKCS#15 middleware (OpenSC's JPKI driver) binds to it.

The kiosk itself never goes near the signing side: ``tests/test_card_allowlist.py`` and
``tests/test_controller.py`` prove that no APDU of a session names a signing EF.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from drivers import jpki
from sim.card import CardModel, CardProfile
from tests.fixtures.card import in_jpki

pytest_plugins = ["tests.fixtures.card"]

PASSWORD = b"TESTPASS1"
OK = bytes.fromhex("9000")


@pytest.fixture(scope="module")
def profile(test_pki) -> CardProfile:
    return CardProfile(
        test_pki.issue_card(),
        pin="1234",
        signing=test_pki.issue_card(),
        signing_password=PASSWORD.decode(),
    )


@pytest.fixture
def model(profile) -> CardModel:
    return CardModel(profile)


def _verify(model: CardModel, secret: bytes) -> bytes:
    return model.process(bytes([0x00, 0x20, 0x00, 0x80, len(secret)]) + secret)


def _read_all(model: CardModel) -> bytes:
    data = b""
    while True:
        answer = model.process(jpki.read_binary(len(data), 256))
        data += answer[:-2]
        if answer[-2:] != OK:
            return data


def test_empty_verify_on_the_signing_password_tells_its_five_tries(model):
    in_jpki(model, jpki.EF_SIGN_PIN)
    assert model.process(jpki.verify_empty()) == bytes.fromhex("63C5")


def test_signing_certificate_needs_the_signing_password_first(model, profile):
    in_jpki(model, jpki.EF_SIGN_CERT)
    assert model.process(jpki.read_binary(0, 4)) == bytes.fromhex("6982")
    in_jpki(model, jpki.EF_SIGN_PIN)
    assert _verify(model, PASSWORD) == OK
    assert model.process(jpki.select_ef(jpki.EF_SIGN_CERT)) == OK
    assert _read_all(model) == profile.signing.certificate_der


def test_the_user_auth_pin_does_not_open_the_signing_certificate(model):
    in_jpki(model, jpki.EF_AUTH_PIN)
    assert _verify(model, b"1234") == OK
    assert model.process(jpki.select_ef(jpki.EF_SIGN_CERT)) == OK
    assert model.process(jpki.read_binary(0, 4)) == bytes.fromhex("6982")


def test_signing_ca_certificate_is_free_to_read(model, profile):
    in_jpki(model, jpki.EF_SIGN_CA_CERT)
    assert _read_all(model) == profile.signing.ca_certificate_der


def test_wrong_signing_password_costs_its_own_try_only(model):
    in_jpki(model, jpki.EF_SIGN_PIN)
    assert _verify(model, b"WRONG123") == bytes.fromhex("63C4")
    assert model.tries_left("jpki", jpki.EF_SIGN_PIN) == 4
    assert model.tries_left("jpki", jpki.EF_AUTH_PIN) == 3
    assert _verify(model, PASSWORD) == OK
    assert model.tries_left("jpki", jpki.EF_SIGN_PIN) == 5


def test_five_wrong_signing_passwords_block_it_and_leave_the_user_auth_pin(model):
    in_jpki(model, jpki.EF_SIGN_PIN)
    answers = [_verify(model, b"WRONG123").hex().upper() for _ in range(5)]
    assert answers == ["63C4", "63C3", "63C2", "63C1", "63C0"]
    assert _verify(model, PASSWORD) == bytes.fromhex("6984")
    in_jpki(model, jpki.EF_AUTH_PIN)
    assert _verify(model, b"1234") == OK


@pytest.mark.parametrize("length", [5, 17])
def test_signing_password_of_a_length_outside_6_to_16_is_refused_without_a_try(model, length):
    in_jpki(model, jpki.EF_SIGN_PIN)
    assert _verify(model, b"A" * length) == bytes.fromhex("6700")
    assert model.tries_left("jpki", jpki.EF_SIGN_PIN) == 5


def test_signing_key_signs_only_after_the_signing_password(model, profile):
    digest = hashlib.sha256(b"a document").digest()
    command = jpki.sign(jpki.digest_info_sha256(digest))
    in_jpki(model, jpki.EF_AUTH_PIN)
    assert _verify(model, b"1234") == OK  # the user-auth PIN is not enough
    assert model.process(jpki.select_ef(jpki.EF_SIGN_KEY)) == OK
    assert model.process(command) == bytes.fromhex("6982")
    in_jpki(model, jpki.EF_SIGN_PIN)
    assert _verify(model, PASSWORD) == OK
    assert model.process(jpki.select_ef(jpki.EF_SIGN_KEY)) == OK
    answer = model.process(command)
    assert answer[-2:] == OK
    public = profile.signing.certificate.public_key()
    public.verify(answer[:-2], digest, padding.PKCS1v15(), Prehashed(hashes.SHA256()))


# --- OpenSC, a real PKCS#15 middleware with a JPKI driver ---------------------------------
def _opensc(pcscd, *args: str) -> str:
    if shutil.which("pkcs15-tool") is None:
        pytest.fail("OpenSC must be installed (scripts/setup.sh installs the opensc package)")
    done = subprocess.run(
        args, capture_output=True, text=True, timeout=60, env=pcscd.env, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.slow
@pytest.mark.parametrize("contactless", [False, True], ids=["contact", "contactless"])
def test_opensc_binds_to_the_card_and_lists_the_user_auth_certificate(
    pcscd, make_virtual_card, contactless
):
    card = make_virtual_card(contactless=contactless)
    listing = _opensc(pcscd, "pkcs15-tool", "--list-certificates")
    serial = x509.load_der_x509_certificate(card.model.identity.certificate_der).serial_number
    entry = listing.split("X.509 Certificate [User Authentication Certificate]")[1]
    assert re.search(r"Path\s+:\s+000a", entry)
    assert f"{serial:X}" in entry.split("X.509")[0].replace(" ", "").upper()


@pytest.mark.slow
def test_opensc_sees_both_pins_and_their_tries_left(pcscd, make_virtual_card):
    make_virtual_card()
    pins = _opensc(pcscd, "pkcs15-tool", "--list-pins")
    tries = re.findall(r"PIN \[(.+?)\].*?Tries left\s+:\s+(\d+)", pins, re.S)
    assert tries == [("User Authentication PIN", "3"), ("Digital Signature PIN", "5")]
