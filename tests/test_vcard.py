"""A virtual card on disk: made from the test PKI, loaded by any process, its PIN counter
kept like EEPROM. What the card answers is in ``tests/test_card_model.py``."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from drivers import jpki
from sim.card import load_card, make_card
from sim.card.directory import load_profile
from tests.fixtures.card import in_jpki, verify

pytest_plugins = ["tests.fixtures.card"]


@pytest.fixture
def card_dir(test_pki, tmp_path):
    return make_card(test_pki.directory, tmp_path / "card", pki=test_pki)


def test_pin_counter_survives_a_restart_of_the_card(card_dir):
    first = load_card(card_dir)
    in_jpki(first, jpki.EF_AUTH_PIN)
    assert verify(first, b"0000") == bytes.fromhex("63C2")
    second = load_card(card_dir)
    in_jpki(second, jpki.EF_AUTH_PIN)
    assert second.process(jpki.verify_empty()) == bytes.fromhex("63C2")


@pytest.mark.parametrize("encoding", ["63C0", "6984"])
def test_blocked_card_answers_in_the_encoding_it_was_made_with(test_pki, tmp_path, encoding):
    card = load_card(
        make_card(test_pki.directory, tmp_path, pki=test_pki, blocked_encoding=encoding)
    )
    in_jpki(card, jpki.EF_AUTH_PIN)
    assert [verify(card, b"0000").hex().upper() for _ in range(3)] == ["63C2", "63C1", "63C0"]
    assert card.process(jpki.verify_empty()) == bytes.fromhex(encoding)
    assert verify(card) == bytes.fromhex("6984")


def test_card_keeps_what_it_was_made_with(test_pki, tmp_path):
    card_dir = make_card(test_pki.directory, tmp_path, pki=test_pki, pin="0427", get_response=True)
    profile = load_profile(card_dir)
    assert (profile.pin, profile.get_response, profile.blocked_encoding) == ("0427", True, "63C0")
    assert len(profile.my_number) == 12 and profile.my_number.isdigit()
    assert load_card(card_dir).identity.certificate_der == profile.identity.certificate_der


def test_expired_card_has_an_expired_certificate(test_pki, tmp_path):
    card = load_card(make_card(test_pki.directory, tmp_path, pki=test_pki, expired=True))
    assert card.identity.certificate.not_valid_after_utc < dt.datetime.now(dt.UTC)


@pytest.mark.parametrize("pin", ["123", "12345", "12a4"])
def test_a_card_pin_is_four_digits(test_pki, tmp_path, pin):
    with pytest.raises(ValueError):
        make_card(test_pki.directory, tmp_path, pki=test_pki, pin=pin)


def test_card_directory_stores_no_state_until_a_pin_is_tried(card_dir):
    assert not (card_dir / "state.json").exists()
    assert json.loads((card_dir / "card.json").read_text())["blocked_encoding"] == "63C0"


def test_a_new_card_in_an_old_directory_has_all_its_tries(test_pki, card_dir):
    card = load_card(card_dir)
    in_jpki(card, jpki.EF_AUTH_PIN)
    verify(card, b"0000")
    make_card(test_pki.directory, card_dir, pki=test_pki)
    assert load_card(card_dir).tries_left() == 3
