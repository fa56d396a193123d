"""The virtual My Number Card answers like a real one (read straight, without the kiosk)."""

from __future__ import annotations

import hashlib
import json

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drivers import jpki
from sim.vcard import EF_MY_NUMBER, CardModel, Fault, make_card

OK = bytes.fromhex("9000")


@pytest.fixture
def card_dir(test_pki, tmp_path):
    return make_card(test_pki.directory, tmp_path / "card", pki=test_pki)


@pytest.fixture
def model(card_dir):
    return CardModel(card_dir)


def _in_jpki(model, ef=None):
    assert model.process(jpki.select_ap(jpki.JPKI_AID)) == OK
    if ef is not None:
        assert model.process(jpki.select_ef(ef)) == OK


def _verify(model, pin=b"1234"):
    return model.process(bytes(jpki.verify_pin(pin)))


def test_card_presents_the_real_atr():
    assert jpki.ATR_MYNUMBER_CARD.hex() == "3be000ff8131fe4514"


def test_certificate_reads_back_in_chunks(model):
    _in_jpki(model, jpki.EF_AUTH_CERT)
    der = model.identity.certificate_der
    assert 1200 <= len(der) <= 1800  # like a real user-auth certificate
    got = b""
    while len(got) < len(der):
        answer = model.process(jpki.read_binary(len(got), min(256, len(der) - len(got))))
        assert answer[-2:] == OK
        got += answer[:-2]
    assert got == der


def test_reading_past_the_end_answers_end_of_file(model):
    _in_jpki(model, jpki.EF_TOKEN)
    assert model.process(jpki.read_binary(0, 40))[-2:] == bytes.fromhex("6282")


def test_empty_verify_answers_three_tries_even_after_the_right_pin(model):
    _in_jpki(model, jpki.EF_AUTH_PIN)
    assert _verify(model) == OK
    assert model.process(jpki.verify_empty()) == bytes.fromhex("63C3")


def test_signature_needs_the_pin_first(model):
    _in_jpki(model, jpki.EF_AUTH_KEY)
    digest_info = jpki.digest_info_sha256(bytes(32))
    assert model.process(jpki.sign(digest_info)) == bytes.fromhex("6982")


def test_signature_is_pkcs1_v15_over_the_digest_info(model):
    _in_jpki(model, jpki.EF_AUTH_PIN)
    _verify(model)
    model.process(jpki.select_ef(jpki.EF_AUTH_KEY))
    digest = hashlib.sha256(b"payload").digest()
    answer = model.process(jpki.sign(jpki.digest_info_sha256(digest)))
    assert answer[-2:] == OK and len(answer) == 258
    model.identity.certificate.public_key().verify(
        answer[:-2], digest, padding.PKCS1v15(), Prehashed(hashes.SHA256())
    )


def test_reselecting_the_application_drops_the_pin_state(model):
    _in_jpki(model, jpki.EF_AUTH_PIN)
    _verify(model)
    _in_jpki(model, jpki.EF_AUTH_KEY)
    assert model.process(jpki.sign(jpki.digest_info_sha256(bytes(32)))) == bytes.fromhex("6982")


def test_select_by_path_fails_like_a_real_card(model):
    _in_jpki(model)
    assert model.process(bytes.fromhex("00A4080C02000A")) == bytes.fromhex("6A86")


def test_unknown_instruction_is_not_supported(model):
    assert model.process(bytes.fromhex("00CA000000")) == bytes.fromhex("6D00")


def test_card_holds_the_my_number_application_behind_the_same_pin(model):
    assert model.process(jpki.select_ap(jpki.AID_CARD_INFO_INPUT)) == OK
    assert model.process(jpki.select_ef(EF_MY_NUMBER)) == OK
    assert model.process(jpki.read_binary(0, 12)) == bytes.fromhex("6982")
    model.process(jpki.select_ef(0x0011))
    assert _verify(model) == OK  # why the kiosk must never go there
    model.process(jpki.select_ef(EF_MY_NUMBER))
    assert model.process(jpki.read_binary(0, 12))[:-2].isdigit()


@pytest.mark.parametrize("aid", jpki.FORBIDDEN_AIDS)
def test_other_applications_answer_select_like_a_real_card(model, aid):
    assert model.process(jpki.select_ap(aid)) == OK


def test_pin_counter_survives_a_restart_of_the_card(card_dir):
    first = CardModel(card_dir)
    _in_jpki(first, jpki.EF_AUTH_PIN)
    assert _verify(first, b"0000") == bytes.fromhex("63C2")
    second = CardModel(card_dir)
    _in_jpki(second, jpki.EF_AUTH_PIN)
    assert second.process(jpki.verify_empty()) == bytes.fromhex("63C2")


@pytest.mark.parametrize("encoding", ["63C0", "6984"])
def test_blocked_card_answers_in_its_encoding_and_refuses_the_right_pin(
    test_pki, tmp_path, encoding
):
    card = CardModel(
        make_card(test_pki.directory, tmp_path, pki=test_pki, blocked_encoding=encoding)
    )
    _in_jpki(card, jpki.EF_AUTH_PIN)
    assert [_verify(card, b"0000").hex().upper() for _ in range(3)] == ["63C2", "63C1", "63C0"]
    assert card.process(jpki.verify_empty()) == bytes.fromhex(encoding)
    assert _verify(card) == bytes.fromhex("6984")


def test_expired_card_has_an_expired_certificate(test_pki, tmp_path):
    import datetime as dt

    card = CardModel(make_card(test_pki.directory, tmp_path, pki=test_pki, expired=True))
    assert card.identity.certificate.not_valid_after_utc < dt.datetime.now(dt.UTC)


@pytest.mark.parametrize(
    "spec, expected",
    [
        ("pull@sign", Fault("pull", "sign", 1)),
        ("sw=6F00@read#2", Fault("sw", "read", 2, bytes.fromhex("6F00"))),
        ("garbage", Fault("garbage", "any", 1)),
    ],
)
def test_fault_modes_parse(spec, expected):
    assert Fault.parse(spec) == expected


@pytest.mark.parametrize("spec", ["explode@sign", "pull@nowhere"])
def test_unknown_fault_modes_are_refused(spec):
    with pytest.raises(ValueError):
        Fault.parse(spec)


def test_card_directory_stores_no_state_until_a_pin_is_tried(card_dir):
    assert not (card_dir / "state.json").exists()
    assert json.loads((card_dir / "card.json").read_text())["blocked_encoding"] == "63C0"


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(apdu=st.binary(max_size=300))
def test_card_answers_any_command_with_a_status_word(model, apdu):
    assert len(model.process(apdu)) >= 2


def test_t0_style_card_announces_the_signature_and_hands_it_out_in_parts(test_pki, tmp_path):
    card = CardModel(make_card(test_pki.directory, tmp_path, pki=test_pki, get_response=True))
    _in_jpki(card, jpki.EF_AUTH_PIN)
    _verify(card)
    card.process(jpki.select_ef(jpki.EF_AUTH_KEY))
    assert card.process(jpki.sign(jpki.digest_info_sha256(bytes(32)))) == bytes.fromhex("6100")
    first = card.process(jpki.get_response(200))
    assert len(first) == 202 and first[-2:] == bytes.fromhex("6138")
    assert card.process(jpki.get_response(0x38))[-2:] == OK
