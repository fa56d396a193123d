"""One card phase in the fewest APDUs a real card allows, counted against the real stack
(pcscd, vpcd, the virtual card); and the card found by SELECT whatever its ATR or reader.

Each APDU costs tens of milliseconds on a contactless card, so the count is something
a person at the kiosk notices.
"""

from __future__ import annotations

import hashlib
import math

import pytest

from drivers import jpki
from drivers.reader import CardService
from sim.card import step_of
from sim.pcscd import CONTACTLESS_READERS

pytest_plugins = ["tests.fixtures.card"]

TIMEOUT = 10
DIGEST = hashlib.sha256(b"canonical enrollment payload").digest()


def _phase(service) -> bytes:
    der = service.read_certificate().result(TIMEOUT)
    assert service.pin_tries_left().result(TIMEOUT) == 3
    service.sign(bytearray(b"1234"), DIGEST).result(TIMEOUT)
    return der


@pytest.mark.slow
def test_a_card_phase_takes_13_apdus_and_the_reselect_that_drops_the_pin(
    card_service, virtual_card
):
    der = _phase(card_service)
    assert 1280 < len(der) <= 1536  # a 1.35 KB certificate: six 256-byte chunks at most
    steps = [step_of(command) for command, _ in virtual_card.apdu_log]
    reads = math.ceil(len(der) / jpki.MAX_READ_CHUNK)
    assert steps == [
        "select_ap",
        "select_ef",  # 000A
        *["read"] * reads,  # the first 256 bytes give the length: no header read
        "select_ef",  # 0018
        "tries",
        "verify",  # no AP re-select between the tries and the VERIFY
        "select_ef",  # 0017
        "sign",
        "select_ap",  # drops the PIN state
    ]
    assert len(steps) == 14


@pytest.mark.slow
def test_a_card_placed_again_is_selected_afresh(card_service, card_events, virtual_card):
    card_service.pin_tries_left().result(TIMEOUT)
    mark = card_events.mark()
    virtual_card.remove()
    card_events.wait_for("card_removed", after=mark)
    virtual_card.insert()
    card_events.wait_for("card_placed", after=mark)
    before = len(virtual_card.apdu_log)
    card_service.sign(bytearray(b"1234"), DIGEST).result(TIMEOUT)
    steps = [step_of(c) for c, _ in virtual_card.apdu_log[before:]]
    assert steps[:3] == ["select_ap", "select_ef", "verify"]


@pytest.mark.slow
def test_after_a_wrong_pin_the_next_try_starts_from_a_fresh_selection(card_service, virtual_card):
    card_service.pin_tries_left().result(TIMEOUT)
    with pytest.raises(Exception, match="PIN incorrect"):
        card_service.sign(bytearray(b"9999"), DIGEST).result(TIMEOUT)
    before = len(virtual_card.apdu_log)
    card_service.sign(bytearray(b"1234"), DIGEST).result(TIMEOUT)
    steps = [step_of(c) for c, _ in virtual_card.apdu_log[before:]]
    assert steps[:3] == ["select_ap", "select_ef", "verify"]


# --- the card is found by SELECT, whatever its ATR and its reader ---------------------------
@pytest.mark.slow
@pytest.mark.parametrize("contactless", [False, True], ids=["contact-atr", "contactless-atr"])
def test_the_card_is_read_and_signs_whatever_atr_the_reader_reports(
    pcscd, make_virtual_card, card_events, contactless
):
    from smartcard.System import readers

    vcard = make_virtual_card(contactless=contactless)
    reader = next(r for r in readers() if str(r) == pcscd.reader_name)
    connection = reader.createConnection()
    connection.connect()
    try:
        atr = bytes(connection.getATR())
    finally:
        connection.disconnect()
    expected = jpki.ATR_MYNUMBER_CONTACTLESS if contactless else jpki.ATR_MYNUMBER_CARD
    assert atr == expected
    service = CardService(pcscd.reader_name, card_events)
    service.start()
    try:
        card_events.wait_for("card_placed")
        assert _phase(service) == vcard.model.identity.certificate_der
    finally:
        service.stop()


@pytest.mark.slow
@pytest.mark.parametrize(
    ("reader", "pattern"),
    [
        ("rc-s300", "SONY FeliCa RC-S300*"),
        ("acr1252u", "ACS ACR1252*PICC*"),
        ("acr1252u", "ACS ACR1252 Dual Reader [ACR1252 Dual Reader PICC] 00 00"),  # exact name
    ],
)
def test_contactless_readers_are_chosen_by_their_names(
    pcscd, make_virtual_card, card_events, reader, pattern
):
    with pcscd.presenting_as(CONTACTLESS_READERS[reader]):
        vcard = make_virtual_card(contactless=True)
        service = CardService(pattern, card_events)
        service.start()
        try:
            card_events.wait_for("card_placed")
            assert service.reader_name == f"{CONTACTLESS_READERS[reader]} 00 00"
            assert service.read_certificate().result(TIMEOUT) == (
                vcard.model.identity.certificate_der
            )
        finally:
            service.stop()
            vcard.remove()
