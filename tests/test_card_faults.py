"""A card that is pulled out, answers garbage or odd status words: always a typed error."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contract.errors import KioskError
from drivers import card
from sim.card import Fault
from sim.waiting import eventually

pytest_plugins = ["tests.fixtures.card"]

TIMEOUT = 10
DIGEST = hashlib.sha256(b"canonical enrollment payload").digest()


@pytest.mark.slow
def test_card_pulled_in_the_middle_of_reading_the_certificate(card_service, virtual_card):
    virtual_card.set_fault("pull@read#3")
    with pytest.raises(card.CardRemoved) as removed:
        card_service.read_certificate().result(TIMEOUT)
    assert removed.value.retryable


@pytest.mark.slow
def test_card_pulled_between_verify_and_sign(card_service, virtual_card):
    virtual_card.set_fault("pull@select_ef#2")  # 0018 for VERIFY, then 0017 for SIGN
    pin = bytearray(b"1234")
    with pytest.raises(card.CardRemoved):
        card_service.sign(pin, DIGEST).result(TIMEOUT)
    assert pin == bytearray(4)
    assert virtual_card.pin_tries_left() == 3


@pytest.mark.slow
def test_card_pulled_during_the_signature(card_service, virtual_card):
    virtual_card.set_fault("pull@sign")
    with pytest.raises(card.CardRemoved):
        card_service.sign(bytearray(b"1234"), DIGEST).result(TIMEOUT)


@pytest.mark.slow
def test_card_placed_again_after_a_pull_works(card_service, card_events, virtual_card, pcscd):
    virtual_card.set_fault("pull@read#2")
    with pytest.raises(card.CardRemoved):
        card_service.read_certificate().result(TIMEOUT)
    pcscd.wait_card(False)
    mark = card_events.mark()
    virtual_card.insert()
    card_events.wait_for("card_placed", after=mark)
    assert card_service.read_certificate().result(TIMEOUT) == (
        virtual_card.model.identity.certificate_der
    )


@pytest.mark.slow
def test_card_without_the_jpki_application_is_not_a_my_number_card(card_service, virtual_card):
    virtual_card.set_fault("sw=6A82@select_ap")
    with pytest.raises(card.NotAMyNumberCard):
        card_service.read_certificate().result(TIMEOUT)


@pytest.mark.slow
def test_missing_certificate_file_is_file_not_found(card_service, virtual_card):
    virtual_card.set_fault("sw=6A82@select_ef")
    with pytest.raises(card.FileNotFound):
        card_service.read_certificate().result(TIMEOUT)


@pytest.mark.slow
def test_sign_refused_for_security_status_is_reported_as_such(card_service, virtual_card):
    virtual_card.set_fault("sw=6982@sign")
    with pytest.raises(card.SecurityStatusNotSatisfied):
        card_service.sign(bytearray(b"1234"), DIGEST).result(TIMEOUT)


@pytest.mark.slow
def test_truncated_certificate_chunk_is_an_unexpected_answer(card_service, virtual_card):
    virtual_card.set_fault("truncate@read#2")
    with pytest.raises(card.UnexpectedCardAnswer):
        card_service.read_certificate().result(TIMEOUT)


@pytest.mark.slow
def test_garbage_instead_of_a_signature_is_an_unexpected_answer(card_service, virtual_card):
    virtual_card.set_fault("raw=" + "AB" * 40 + "9000@sign")
    with pytest.raises(card.UnexpectedCardAnswer):
        card_service.sign(bytearray(b"1234"), DIGEST).result(TIMEOUT)


@pytest.mark.slow
def test_service_works_again_after_an_unexpected_answer(card_service, virtual_card):
    virtual_card.set_fault("garbage@tries")
    with pytest.raises(KioskError):
        card_service.pin_tries_left().result(TIMEOUT)
    assert card_service.pin_tries_left().result(TIMEOUT) == 3


STEPS = ["select_ap", "select_ef", "read", "tries", "verify", "sign"]


@pytest.mark.slow
@settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    step=st.sampled_from(STEPS),
    nth=st.integers(1, 3),
    # Every answer a reader can hand back (a silent card is test_card_service's timeout test).
    answer=st.one_of(
        st.binary(min_size=1, max_size=300),
        st.integers(0, 0xFFFF).map(lambda sw: sw.to_bytes(2, "big")),
        st.tuples(st.binary(max_size=260), st.integers(0, 0xFFFF)).map(
            lambda t: t[0] + t[1].to_bytes(2, "big")
        ),
    ),
)
def test_any_answer_from_the_card_gives_a_result_or_a_typed_error(
    card_service, virtual_card, step, nth, answer
):
    virtual_card.set_fault(Fault("raw", step, nth, answer))
    operations = (
        card_service.read_certificate,
        card_service.pin_tries_left,
        lambda: card_service.sign(bytearray(b"1234"), DIGEST),
    )
    for operation in operations:
        try:
            operation().result(TIMEOUT)  # a hang would raise TimeoutError here
        except KioskError as e:
            assert e.kind
    virtual_card.set_fault(None)


@settings(max_examples=300)
@given(sw=st.integers(0, 0xFFFF), step=st.sampled_from(STEPS))
def test_every_status_word_is_success_or_a_typed_card_error(sw, step):
    try:
        card.raise_for_status(sw, step)
    except card.CardError as e:
        assert e.kind
    else:
        assert sw == 0x9000 or (step == "tries" and sw & 0xFFF0 == 0x63C0)


@pytest.mark.slow
def test_card_pulled_by_the_person_while_the_certificate_is_read(
    make_virtual_card, pcscd, card_events
):
    import threading

    from drivers.reader import CardService

    vcard = make_virtual_card(delays={"read": 0.15})
    service = CardService(pcscd.reader_name, card_events)
    service.start()
    try:
        card_events.wait_for("card_placed")
        future = service.read_certificate()
        threading.Timer(0.4, vcard.remove).start()  # two or three chunks in
        with pytest.raises(card.CardRemoved):
            future.result(TIMEOUT)
        card_events.wait_for("card_removed")
    finally:
        service.stop()


@pytest.mark.slow
def test_answer_arriving_after_the_timeout_is_discarded_and_the_card_stays_usable(
    make_virtual_card, pcscd, card_events
):
    from drivers.reader import CardService

    vcard = make_virtual_card(delays={"tries": 1.0})
    service = CardService(pcscd.reader_name, card_events, transceive_timeout=0.3)
    service.start()
    try:
        card_events.wait_for("card_placed")
        with pytest.raises(card.CardTimeout):
            service.pin_tries_left().result(TIMEOUT)
        vcard.delays.clear()

        def answered() -> bool:  # new jobs fail fast until the late answer is in
            try:
                return service.pin_tries_left().result(TIMEOUT) == 3
            except card.CardTimeout:
                return False

        eventually(answered, TIMEOUT, "the tries left once the late answer is in")
    finally:
        service.stop()


@pytest.mark.slow
def test_logs_carry_no_pin_and_no_certificate(card_service, virtual_card, caplog):
    import logging

    caplog.set_level(logging.DEBUG)
    card_service.read_certificate().result(TIMEOUT)
    with pytest.raises(card.PinIncorrect):
        card_service.sign(bytearray(b"9876"), DIGEST).result(TIMEOUT)
    card_service.sign(bytearray(b"1234"), DIGEST).result(TIMEOUT)
    text = caplog.text.lower()
    for pin in (b"9876", b"1234"):
        for form in (pin.decode(), pin.hex(), pin.hex(" "), str(list(pin))[1:-1]):
            assert form not in text
    from cryptography.x509.oid import NameOID

    subject = virtual_card.model.identity.certificate.subject
    opaque_id = subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    assert opaque_id not in text
