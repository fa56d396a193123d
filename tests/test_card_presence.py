"""Presence is event-driven: pcscd's own news reaches the kiosk without a polling cycle,
and a reader loss is said only after several failed looks."""

from __future__ import annotations

import threading

import pytest

from drivers.reader import CardService

pytest_plugins = ["tests.fixtures.card"]

TIMEOUT = 10
#: Far longer than any wait below: a look on the service's own schedule never comes.
NEVER = 600.0


@pytest.mark.slow
def test_cards_placed_and_removed_are_seen_without_waiting_for_a_look(
    pcscd, virtual_card, card_events
):
    service = CardService(
        pcscd.reader_name, card_events, poll_interval=NEVER, presence_timeout=NEVER
    )
    service.start()
    try:
        card_events.wait_for("card_placed", timeout=TIMEOUT)
        for _ in range(2):
            mark = card_events.mark()
            virtual_card.remove()
            card_events.wait_for("card_removed", after=mark, timeout=TIMEOUT)
            virtual_card.insert()
            card_events.wait_for("card_placed", after=mark, timeout=TIMEOUT)
    finally:
        service.stop()


@pytest.mark.slow
def test_stop_does_not_wait_for_the_presence_timeout(pcscd, virtual_card, card_events):
    service = CardService(pcscd.reader_name, card_events, presence_timeout=NEVER)
    service.start()
    card_events.wait_for("card_placed", timeout=TIMEOUT)
    watchers = [t for t in threading.enumerate() if t.name == "card-presence"]
    service.stop(timeout=TIMEOUT)
    assert watchers and not any(t.is_alive() for t in watchers)


@pytest.mark.slow
def test_pcscd_back_before_the_debounce_is_a_card_removed_and_placed_not_a_lost_reader(
    pcscd, virtual_card, card_events
):
    service = CardService(pcscd.reader_name, card_events, reader_lost_after=1_000_000)
    service.start()
    try:
        card_events.wait_for("card_placed", timeout=TIMEOUT)
        mark = card_events.mark()
        pcscd.restart()
        card_events.wait_for("card_removed", after=mark, timeout=TIMEOUT)
        card_events.wait_for("card_placed", after=mark, timeout=TIMEOUT)
        assert service.read_certificate().result(TIMEOUT) == (
            virtual_card.model.identity.certificate_der
        )
        assert "reader_lost" not in card_events.events[mark:]
    finally:
        service.stop()
