"""The card service against a real pcscd, the vpcd reader and the virtual My Number Card."""

from __future__ import annotations

import hashlib
import time

import pytest

from drivers import card
from drivers.certs import check_certificate, load_ca_bundle, verify_card_signature
from drivers.reader import CardService
from sim.waiting import eventually

pytest_plugins = ["tests.fixtures.card"]

TIMEOUT = 10
DIGEST = hashlib.sha256(b"canonical enrollment payload").digest()


@pytest.mark.slow
def test_reads_the_user_auth_certificate_of_the_card_in_the_reader(card_service, virtual_card):
    der = card_service.read_certificate().result(TIMEOUT)
    assert der == virtual_card.model.identity.certificate_der


@pytest.mark.slow
def test_certificate_is_read_in_short_chunks_sized_from_its_der_header(card_service, virtual_card):
    card_service.read_certificate().result(TIMEOUT)
    reads = [cmd for cmd, _ in virtual_card.apdu_log if cmd[1] == 0xB0]
    cert_len = len(virtual_card.model.identity.certificate_der)
    assert reads[0][4] == 0  # a full 256-byte chunk first: no separate header read
    assert all(len(cmd) == 5 for cmd in reads)  # short APDUs only
    assert sum(cmd[4] or 256 for cmd in reads) == cert_len  # never reads past the end


@pytest.mark.slow
def test_tries_left_is_three_on_a_fresh_card(card_service):
    assert card_service.pin_tries_left().result(TIMEOUT) == 3


@pytest.mark.slow
def test_asking_the_tries_left_spends_no_try(card_service, virtual_card):
    for _ in range(4):
        card_service.pin_tries_left().result(TIMEOUT)
    assert virtual_card.pin_tries_left() == 3


@pytest.mark.slow
def test_full_card_phase_signature_verifies_against_the_certificate(card_service, test_pki):
    der = card_service.read_certificate().result(TIMEOUT)
    cert = check_certificate(der, load_ca_bundle(test_pki.trusted_ca_pem()))
    assert card_service.pin_tries_left().result(TIMEOUT) == 3
    signature = card_service.sign(bytearray(b"1234"), DIGEST).result(TIMEOUT)
    verify_card_signature(cert, DIGEST, signature)


@pytest.mark.slow
def test_sign_leaves_the_card_without_pin_state(card_service, virtual_card):
    card_service.sign(bytearray(b"1234"), DIGEST).result(TIMEOUT)
    assert virtual_card.model.verified == set()


@pytest.mark.slow
def test_card_placed_and_removed_are_reported(card_service, card_events, virtual_card):
    mark = card_events.mark()
    virtual_card.remove()
    card_events.wait_for("card_removed", after=mark)
    assert not card_service.card_present
    virtual_card.insert()
    card_events.wait_for("card_placed", after=mark)
    assert card_service.card_present
    assert card_service.pin_tries_left().result(TIMEOUT) == 3


@pytest.mark.slow
def test_operation_without_a_card_fails_as_card_removed(card_service, card_events, virtual_card):
    mark = card_events.mark()
    virtual_card.remove()
    card_events.wait_for("card_removed", after=mark)
    with pytest.raises(card.CardRemoved):
        card_service.read_certificate().result(TIMEOUT)


@pytest.mark.slow
def test_events_come_from_the_card_worker_thread(pcscd, virtual_card):
    import threading

    threads = []
    service = CardService(pcscd.reader_name, lambda e: threads.append(threading.current_thread()))
    service.start()
    try:
        eventually(lambda: threads, TIMEOUT, "a card event")
        assert threads[0].name == "card-worker"
    finally:
        service.stop()


@pytest.mark.slow
def test_service_uses_the_configured_reader_not_the_first(pcscd, make_virtual_card, card_events):
    in_first = make_virtual_card()
    in_second = make_virtual_card(insert=False, port=pcscd.port + 1)
    in_second.insert()
    service = CardService(pcscd.second_reader_name, card_events)
    service.start()
    try:
        card_events.wait_for("card_placed")
        der = service.read_certificate().result(TIMEOUT)
    finally:
        service.stop()
    assert der == in_second.model.identity.certificate_der
    assert in_first.apdu_log == []


@pytest.mark.slow
def test_pattern_matching_both_slots_uses_the_one_holding_the_card(
    pcscd, make_virtual_card, card_events
):
    in_second = make_virtual_card(port=pcscd.port + 1)
    service = CardService("Virtual PCD*", card_events)
    service.start()
    try:
        card_events.wait_for("card_placed")
        assert service.reader_name == pcscd.second_reader_name
        assert service.read_certificate().result(TIMEOUT) == (
            in_second.model.identity.certificate_der
        )
    finally:
        service.stop()


@pytest.mark.slow
def test_card_swapped_between_two_looks_is_reported_removed_then_placed(
    pcscd, make_virtual_card, card_events
):
    import threading

    first = make_virtual_card()
    service = CardService(pcscd.reader_name, card_events)
    service.start()
    try:
        card_events.wait_for("card_placed")
        busy = threading.Event()
        service.submit(lambda link: busy.wait(TIMEOUT))  # the worker does not look meanwhile
        mark = card_events.mark()
        first.remove()
        pcscd.wait_card(False)
        second = make_virtual_card()
        busy.set()
        card_events.wait_for("card_placed", after=mark)
        assert card_events.events[mark:] == ["card_removed", "card_placed"]
        assert service.read_certificate().result(TIMEOUT) == (second.model.identity.certificate_der)
    finally:
        service.stop()


@pytest.mark.slow
def test_pattern_matching_no_reader_reports_the_reader_lost(pcscd, virtual_card, card_events):
    service = CardService("No Such Reader*", card_events)
    service.start()
    try:
        card_events.wait_for("reader_lost")
        with pytest.raises(card.ReaderUnavailable):
            service.read_certificate().result(TIMEOUT)
    finally:
        service.stop()


@pytest.mark.slow
def test_service_survives_pcscd_killed_and_restarted(
    card_service, card_events, pcscd, virtual_card
):
    mark = card_events.mark()
    pcscd.kill()
    card_events.wait_for("reader_lost", after=mark)
    with pytest.raises((card.ReaderUnavailable, card.CardRemoved)):
        card_service.read_certificate().result(TIMEOUT)
    pcscd.start()
    card_events.wait_for("reader_back", after=mark)
    card_events.wait_for("card_placed", after=mark)
    assert card_service.read_certificate().result(TIMEOUT) == (
        virtual_card.model.identity.certificate_der
    )


@pytest.mark.slow
def test_service_recovers_when_the_reader_is_unplugged_and_plugged_back(
    card_service, card_events, pcscd, virtual_card
):
    mark = card_events.mark()
    pcscd.kill()
    pcscd.start(with_reader=False)  # vpcd cannot be unplugged; pcscd without it looks alike
    card_events.wait_for("reader_lost", after=mark)
    time.sleep(3 * card_service.poll_interval)  # a few polls against a reader-less pcscd
    assert not card_service.reader_available
    assert card_events.events[mark:] == ["card_removed", "reader_lost"]
    pcscd.restart()
    card_events.wait_for("reader_back", after=mark)
    card_events.wait_for("card_placed", after=mark)
    assert card_service.pin_tries_left().result(TIMEOUT) == 3


@pytest.mark.slow
def test_card_that_stops_answering_fails_with_a_timeout_not_a_hang(
    pcscd, make_virtual_card, card_events
):
    vcard = make_virtual_card(fault="hang@read#2")
    service = CardService(pcscd.reader_name, card_events, transceive_timeout=0.5)
    service.start()
    try:
        card_events.wait_for("card_placed")
        started = time.monotonic()
        with pytest.raises(card.CardTimeout):
            service.read_certificate().result(TIMEOUT)
        assert time.monotonic() - started < 3
        with pytest.raises(card.CardTimeout):  # while it stays silent, fail fast
            service.pin_tries_left().result(1)
        vcard.remove()  # the person pulls the silent card and places it again
        vcard.insert()
        card_events.wait_for("card_placed", after=1)
        assert service.pin_tries_left().result(TIMEOUT) == 3
    finally:
        service.stop()


def test_stopped_service_fails_new_operations_as_reader_unavailable(pcscd):
    service = CardService(pcscd.reader_name, lambda e: None)
    with pytest.raises(card.ReaderUnavailable):
        service.pin_tries_left().result(TIMEOUT)


@pytest.mark.slow
def test_event_handler_that_raises_does_not_stop_the_service(pcscd, virtual_card):
    def broken_handler(event: str) -> None:
        raise RuntimeError("a bug in the screen code")

    service = CardService(pcscd.reader_name, broken_handler)
    service.start()
    try:
        eventually(lambda: service.card_present, TIMEOUT, "the card seen as present")
        assert service.pin_tries_left().result(TIMEOUT) == 3
    finally:
        service.stop()


@pytest.mark.slow
def test_signature_announced_with_61xx_is_fetched_with_get_response(
    pcscd, make_virtual_card, card_events
):
    vcard = make_virtual_card(get_response=True)
    service = CardService(pcscd.reader_name, card_events)
    service.start()
    try:
        card_events.wait_for("card_placed")
        signature = service.sign(bytearray(b"1234"), DIGEST).result(TIMEOUT)
    finally:
        service.stop()
    verify_card_signature(vcard.model.identity.certificate, DIGEST, signature)
    assert [cmd for cmd, _ in vcard.apdu_log if cmd[1] == 0xC0] == [bytes.fromhex("00C0000000")]
