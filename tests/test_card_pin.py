"""The user-auth PIN: counting down, blocking, both blocked encodings, and the PIN buffer."""

from __future__ import annotations

import hashlib

import pytest

from drivers import card

pytest_plugins = ["tests.fixtures.card"]

TIMEOUT = 10
DIGEST = hashlib.sha256(b"canonical enrollment payload").digest()
ZEROS = bytearray(4)


def _sign(service, pin: bytes) -> bytes:
    return service.sign(bytearray(pin), DIGEST).result(TIMEOUT)


@pytest.mark.slow
def test_wrong_pin_says_how_many_tries_are_left(card_service):
    with pytest.raises(card.PinIncorrect) as wrong:
        _sign(card_service, b"9999")
    assert wrong.value.tries_left == 2
    assert wrong.value.kind == "pin_incorrect"


@pytest.mark.slow
def test_each_wrong_pin_counts_down_on_the_card(card_service, virtual_card):
    for expected in (2, 1):
        with pytest.raises(card.PinIncorrect):
            _sign(card_service, b"0000")
        assert card_service.pin_tries_left().result(TIMEOUT) == expected
    assert virtual_card.pin_tries_left() == 1


@pytest.mark.slow
def test_right_pin_after_a_wrong_one_restores_three_tries(card_service):
    with pytest.raises(card.PinIncorrect):
        _sign(card_service, b"0000")
    _sign(card_service, b"1234")
    assert card_service.pin_tries_left().result(TIMEOUT) == 3


@pytest.mark.slow
def test_third_wrong_pin_blocks_the_card(card_service, virtual_card):
    for _ in range(2):
        with pytest.raises(card.PinIncorrect):
            _sign(card_service, b"0000")
    with pytest.raises(card.PinBlocked):
        _sign(card_service, b"0000")
    assert virtual_card.pin_tries_left() == 0


@pytest.mark.slow
def test_wrong_pin_sends_no_signature_command(card_service, virtual_card):
    with pytest.raises(card.PinIncorrect):
        _sign(card_service, b"0000")
    assert not [cmd for cmd, _ in virtual_card.apdu_log if cmd[1] == 0x2A]


@pytest.mark.slow
def test_wrong_pin_is_never_retried_by_the_driver(card_service, virtual_card):
    with pytest.raises(card.PinIncorrect):
        _sign(card_service, b"0000")
    verifies = [cmd for cmd, _ in virtual_card.apdu_log if cmd[1] == 0x20 and len(cmd) > 4]
    assert len(verifies) == 1


@pytest.mark.slow
@pytest.mark.parametrize("encoding", ["63C0", "6984"])
def test_blocked_card_is_reported_blocked_when_asking_tries(make_virtual_card, encoding, pcscd):
    vcard = make_virtual_card(blocked_encoding=encoding)
    _block(vcard)
    service = _service(pcscd)
    try:
        with pytest.raises(card.PinBlocked):
            service.pin_tries_left().result(TIMEOUT)
    finally:
        service.stop()
    answers = [resp for cmd, resp in vcard.apdu_log if cmd == bytes.fromhex("00200080")]
    assert answers[-1] == bytes.fromhex(encoding)


@pytest.mark.slow
@pytest.mark.parametrize("encoding", ["63C0", "6984"])
def test_blocked_card_refuses_to_sign_and_spends_nothing(make_virtual_card, encoding, pcscd):
    vcard = make_virtual_card(blocked_encoding=encoding)
    _block(vcard)
    service = _service(pcscd)
    try:
        with pytest.raises(card.PinBlocked):
            _sign(service, b"1234")
    finally:
        service.stop()
    assert vcard.pin_tries_left() == 0


@pytest.mark.slow
def test_blocked_card_stays_blocked_after_the_card_restarts(make_virtual_card, pcscd):
    vcard = make_virtual_card()
    _block(vcard)
    vcard.remove()
    pcscd.wait_card(False)
    vcard.insert()
    pcscd.wait_card(True)
    service = _service(pcscd)
    try:
        with pytest.raises(card.PinBlocked):
            service.pin_tries_left().result(TIMEOUT)
    finally:
        service.stop()


@pytest.mark.slow
def test_pin_buffer_is_zeroed_after_a_signature(card_service):
    pin = bytearray(b"1234")
    card_service.sign(pin, DIGEST).result(TIMEOUT)
    assert pin == ZEROS


@pytest.mark.slow
def test_callers_pin_buffer_is_zeroed_as_soon_as_sign_returns(make_virtual_card, pcscd):
    make_virtual_card(delays={"sign": 0.5})
    service = _service(pcscd)
    try:
        pin = bytearray(b"1234")
        future = service.sign(pin, DIGEST)
        assert pin == ZEROS and not future.done()
        assert len(future.result(TIMEOUT)) == 256
    finally:
        service.stop()


@pytest.mark.slow
def test_pin_buffer_is_zeroed_after_a_wrong_pin(card_service):
    pin = bytearray(b"9999")
    with pytest.raises(card.PinIncorrect):
        card_service.sign(pin, DIGEST).result(TIMEOUT)
    assert pin == ZEROS


@pytest.mark.slow
def test_pin_buffer_is_zeroed_when_the_card_is_gone(card_service, card_events, virtual_card):
    virtual_card.remove()
    card_events.wait_for("card_removed")
    pin = bytearray(b"1234")
    with pytest.raises(card.CardRemoved):
        card_service.sign(pin, DIGEST).result(TIMEOUT)
    assert pin == ZEROS


def test_pin_buffer_is_zeroed_when_the_service_is_not_running(pcscd):
    from drivers.reader import CardService

    pin = bytearray(b"1234")
    with pytest.raises(card.ReaderUnavailable):
        CardService(pcscd.reader_name, lambda e: None).sign(pin, DIGEST).result(TIMEOUT)
    assert pin == ZEROS


@pytest.mark.slow
@pytest.mark.parametrize("pin", [b"123", b"12345", b"12a4", b""])
def test_malformed_pin_never_reaches_the_card(card_service, virtual_card, pin):
    buffer = bytearray(pin)
    with pytest.raises(card.PinFormatInvalid):
        card_service.sign(buffer, DIGEST).result(TIMEOUT)
    assert not [cmd for cmd, _ in virtual_card.apdu_log if cmd[1] == 0x20]
    assert buffer == bytearray(len(pin))


@pytest.mark.slow
def test_pin_given_as_immutable_bytes_is_refused(card_service):
    with pytest.raises(TypeError):
        card_service.sign(b"1234", DIGEST)


def _block(vcard) -> None:
    """Spend all three tries straight on the card model (not through the kiosk)."""
    from drivers import jpki

    model = vcard.model
    model.process(jpki.select_ap(jpki.JPKI_AID))
    model.process(jpki.select_ef(jpki.EF_AUTH_PIN))
    for _ in range(3):
        model.process(bytes(jpki.verify_pin(b"0000")))
    model.reset()
    assert vcard.pin_tries_left() == 0


def _service(pcscd):
    from drivers.reader import CardService
    from tests.fixtures.card import EventLog

    events = EventLog()
    service = CardService(pcscd.reader_name, events)
    service.start()
    events.wait_for("card_placed")
    return service
