"""The virtual card's logic answers like a real card, bytes in and bytes out.

No pcscd, no socket, no card directory: a :class:`CardModel` over one card identity
made per module, with its PIN counters in memory. What the card does in a reader is in
``tests/test_vcard_reader.py``; a card on disk in ``tests/test_vcard.py``.
"""

from __future__ import annotations

import hashlib

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drivers import jpki
from sim.card import EF_MY_NUMBER, CardModel, CardProfile, Fault, FaultInjector, step_of
from tests.fixtures.card import in_jpki, verify

pytest_plugins = ["tests.fixtures.card"]

OK = bytes.fromhex("9000")
#: An AID that no application on the card has.
UNKNOWN_AID = bytes.fromhex("D392F000260100000099")


@pytest.fixture(scope="module")
def profile(test_pki) -> CardProfile:
    return CardProfile(test_pki.issue_card(), pin="1234")


@pytest.fixture
def model(profile) -> CardModel:
    return CardModel(profile)


def _sign(model, digest: bytes) -> bytes:
    model.process(jpki.select_ef(jpki.EF_AUTH_KEY))
    return model.process(jpki.sign(jpki.digest_info_sha256(digest)))


# --- selecting ----------------------------------------------------------------------------


def test_card_presents_the_real_atr():
    assert jpki.ATR_MYNUMBER_CARD.hex() == "3be000ff8131fe4514"


def test_select_of_the_jpki_application_answers_ok_without_data(model):
    assert model.process(jpki.select_ap(jpki.JPKI_AID)) == OK
    assert model.applet is not None and model.applet.aid == jpki.JPKI_AID


def test_select_of_an_application_the_card_lacks_answers_file_not_found(model):
    assert model.process(jpki.select_ap(UNKNOWN_AID)) == bytes.fromhex("6A82")


def test_select_of_a_file_outside_the_application_answers_file_not_found(model):
    in_jpki(model)
    assert model.process(jpki.select_ef(0x001A)) == bytes.fromhex("6A82")


@pytest.mark.parametrize("aid", jpki.FORBIDDEN_AIDS)
def test_other_applications_answer_select_like_a_real_card(model, aid):
    assert model.process(jpki.select_ap(aid)) == OK


def test_select_by_path_fails_like_a_real_card(model):
    in_jpki(model)
    assert model.process(bytes.fromhex("00A4080C02000A")) == bytes.fromhex("6A86")


def test_unknown_instruction_is_not_supported(model):
    assert model.process(bytes.fromhex("00CA000000")) == bytes.fromhex("6D00")


# --- reading ------------------------------------------------------------------------------


def test_certificate_reads_back_in_chunks(model):
    in_jpki(model, jpki.EF_AUTH_CERT)
    der = model.identity.certificate_der
    assert 1200 <= len(der) <= 1800  # like a real user-auth certificate
    got = b""
    while len(got) < len(der):
        answer = model.process(jpki.read_binary(len(got), min(256, len(der) - len(got))))
        assert answer[-2:] == OK
        got += answer[:-2]
    assert got == der


def test_certificate_header_gives_its_der_length(model):
    in_jpki(model, jpki.EF_AUTH_CERT)
    header = model.process(jpki.read_binary(0, 4))
    assert header[-2:] == OK
    assert int.from_bytes(header[2:4], "big") + 4 == len(model.identity.certificate_der)


def test_reading_past_the_end_answers_end_of_file(model):
    in_jpki(model, jpki.EF_TOKEN)
    assert model.process(jpki.read_binary(0, 40))[-2:] == bytes.fromhex("6282")


def test_reading_before_selecting_a_file_answers_no_current_file(model):
    in_jpki(model)
    assert model.process(jpki.read_binary(0, 4)) == bytes.fromhex("6986")


# --- the PIN --------------------------------------------------------------------------------


def test_empty_verify_tells_the_tries_left_and_costs_none(model):
    in_jpki(model, jpki.EF_AUTH_PIN)
    assert model.process(jpki.verify_empty()) == bytes.fromhex("63C3")
    assert model.process(jpki.verify_empty()) == bytes.fromhex("63C3")
    assert model.tries_left() == 3


def test_right_pin_answers_ok(model):
    in_jpki(model, jpki.EF_AUTH_PIN)
    assert verify(model) == OK
    assert model.tries_left() == 3


def test_each_wrong_pin_costs_a_try_and_says_how_many_are_left(model):
    in_jpki(model, jpki.EF_AUTH_PIN)
    assert verify(model, b"0000") == bytes.fromhex("63C2")
    assert model.tries_left() == 2
    assert verify(model, b"9999") == bytes.fromhex("63C1")
    assert model.process(jpki.verify_empty()) == bytes.fromhex("63C1")


def test_right_pin_after_a_wrong_one_gives_all_tries_back(model):
    in_jpki(model, jpki.EF_AUTH_PIN)
    verify(model, b"0000")
    assert verify(model) == OK
    assert model.tries_left() == 3


def test_empty_verify_answers_three_tries_even_after_the_right_pin(model):
    in_jpki(model, jpki.EF_AUTH_PIN)
    assert verify(model) == OK
    assert model.process(jpki.verify_empty()) == bytes.fromhex("63C3")


def test_pin_of_the_wrong_length_is_refused_and_costs_no_try(model):
    in_jpki(model, jpki.EF_AUTH_PIN)
    assert model.process(bytes.fromhex("002000800331323334")) == bytes.fromhex("6700")
    assert model.tries_left() == 3


@pytest.mark.parametrize("encoding", ["63C0", "6984"])
def test_blocked_card_answers_in_its_encoding_and_refuses_the_right_pin(profile, encoding):
    card = CardModel(CardProfile(profile.identity, blocked_encoding=encoding))
    in_jpki(card, jpki.EF_AUTH_PIN)
    assert [verify(card, b"0000").hex().upper() for _ in range(3)] == ["63C2", "63C1", "63C0"]
    assert card.process(jpki.verify_empty()) == bytes.fromhex(encoding)
    assert verify(card) == bytes.fromhex("6984")
    assert card.tries_left() == 0


def test_pin_counter_outlives_a_reset(model):
    in_jpki(model, jpki.EF_AUTH_PIN)
    verify(model, b"0000")
    model.reset()
    in_jpki(model, jpki.EF_AUTH_PIN)
    assert model.process(jpki.verify_empty()) == bytes.fromhex("63C2")


# --- signing ----------------------------------------------------------------------------------


def test_signature_needs_the_pin_first(model):
    in_jpki(model, jpki.EF_AUTH_KEY)
    digest_info = jpki.digest_info_sha256(bytes(32))
    assert model.process(jpki.sign(digest_info)) == bytes.fromhex("6982")


def test_signature_is_pkcs1_v15_over_the_digest_info(model):
    in_jpki(model, jpki.EF_AUTH_PIN)
    verify(model)
    digest = hashlib.sha256(b"payload").digest()
    answer = _sign(model, digest)
    assert answer[-2:] == OK and len(answer) == 258
    model.identity.certificate.public_key().verify(
        answer[:-2], digest, padding.PKCS1v15(), Prehashed(hashes.SHA256())
    )


def test_card_pads_whatever_it_is_sent_as_pkcs1_type_1(model):
    """The card pads the bytes it gets; it does not check that they are a DigestInfo."""
    in_jpki(model, jpki.EF_AUTH_PIN)
    verify(model)
    model.process(jpki.select_ef(jpki.EF_AUTH_KEY))
    data = bytes(range(40))
    answer = model.process(jpki.sign(data))
    assert answer[-2:] == OK and len(answer) == 258
    public = model.identity.certificate.public_key().public_numbers()
    opened = pow(int.from_bytes(answer[:-2], "big"), public.e, public.n).to_bytes(256, "big")
    assert opened == b"\x00\x01" + b"\xff" * (256 - 3 - len(data)) + b"\x00" + data


def test_reselecting_the_application_drops_the_pin_state(model):
    in_jpki(model, jpki.EF_AUTH_PIN)
    verify(model)
    in_jpki(model, jpki.EF_AUTH_KEY)
    assert model.process(jpki.sign(jpki.digest_info_sha256(bytes(32)))) == bytes.fromhex("6982")


def test_a_reset_drops_the_pin_state(model):
    in_jpki(model, jpki.EF_AUTH_PIN)
    verify(model)
    model.reset()
    assert model.verified == set()
    in_jpki(model)
    assert _sign(model, bytes(32)) == bytes.fromhex("6982")


def test_t0_style_card_announces_the_signature_and_hands_it_out_in_parts(profile):
    card = CardModel(CardProfile(profile.identity, get_response=True))
    in_jpki(card, jpki.EF_AUTH_PIN)
    verify(card)
    card.process(jpki.select_ef(jpki.EF_AUTH_KEY))
    assert card.process(jpki.sign(jpki.digest_info_sha256(bytes(32)))) == bytes.fromhex("6100")
    first = card.process(jpki.get_response(200))
    assert len(first) == 202 and first[-2:] == bytes.fromhex("6138")
    assert card.process(jpki.get_response(0x38))[-2:] == OK


# --- the other applications -----------------------------------------------------------------


def test_card_holds_the_my_number_application_behind_the_same_pin(model):
    assert model.process(jpki.select_ap(jpki.AID_CARD_INFO_INPUT)) == OK
    assert model.process(jpki.select_ef(EF_MY_NUMBER)) == OK
    assert model.process(jpki.read_binary(0, 12)) == bytes.fromhex("6982")
    model.process(jpki.select_ef(0x0011))
    assert verify(model) == OK  # why the kiosk must never go there
    model.process(jpki.select_ef(EF_MY_NUMBER))
    assert model.process(jpki.read_binary(0, 12))[:-2].isdigit()


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(apdu=st.binary(max_size=300))
def test_card_answers_any_command_with_a_status_word(model, apdu):
    assert len(model.process(apdu)) >= 2


# --- faults ------------------------------------------------------------------------------------


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


def _answer(model, faults, apdu):
    """What the card in a reader sends back: the model's answer through the faults."""
    return faults.apply(step_of(apdu), model.process(apdu))[0]


def test_a_card_without_the_jpki_application_is_a_status_word_fault(model):
    faults = FaultInjector("sw=6A82@select_ap")
    assert _answer(model, faults, jpki.select_ap(jpki.JPKI_AID)) == bytes.fromhex("6A82")
    assert _answer(model, faults, jpki.select_ap(jpki.JPKI_AID)) == OK  # one shot


def test_a_fault_fires_at_the_nth_command_of_its_step_only(model):
    faults = FaultInjector("truncate@read#2")
    in_jpki(model, jpki.EF_AUTH_CERT)
    answers = [_answer(model, faults, jpki.read_binary(0, 4)) for _ in range(3)]
    assert [len(a) for a in answers] == [6, 1, 6]


def test_a_pull_leaves_the_command_unanswered_but_done(model):
    """A wrong PIN the card never answered has still cost its try, as on a real card."""
    faults = FaultInjector(Fault.parse("pull@verify"))
    in_jpki(model, jpki.EF_AUTH_PIN)
    answer, fired = faults.apply("verify", verify(model, b"0000"))
    assert answer is None and fired is not None and fired.action == "pull"
    assert model.tries_left() == 2


def test_a_cleared_fault_never_fires(model):
    faults = FaultInjector("sw=6F00@any")
    faults.arm(None)
    assert _answer(model, faults, jpki.select_ap(jpki.JPKI_AID)) == OK
