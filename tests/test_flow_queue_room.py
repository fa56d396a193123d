"""A full queue refuses before the card and the PIN (issue 15's "a full data partition gives
the same clear refusal before the PIN"). Pure flow, no window: the controller's side, a
real queue filling up, is tests/test_queue_room.py.

When the queue says it has no room (``flow.QueueRoom(True)``), a person who starts a
procedure that stores what they sign (the Mynapoint application, 健康保険証の利用申込み)
is told at once (``queue_full``: the storage is full, the card and the PIN were not used),
instead of after the card, the IDs and the PIN. A status check stores nothing and still
works; so do the info pages.
"""

from __future__ import annotations

import pytest

from kiosk import flow as f
from kiosk.catalog import Catalog
from kiosk.errors_table import describe
from kiosk.procedures import Procedures
from tests.test_procedures_flow import ROUND2
from tests.test_procedures_flow import Kiosk as ProceduresKiosk

EFFECTS_OF_A_CARD = (f.ReadCertificate, f.ReadTriesLeft, f.SignDigest, f.Enqueue)


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.load()


@pytest.fixture
def kiosk(catalog: Catalog) -> ProceduresKiosk:
    return ProceduresKiosk(catalog, Procedures.load(), today=ROUND2)


def refused_before_the_card(kiosk: ProceduresKiosk) -> None:
    assert kiosk.session.state == f.ERROR
    assert kiosk.session.error_kind == "queue_full"
    kiosk.send(f.CardPlaced())  # the person puts the card down anyway
    assert not [e for e in kiosk.effects if isinstance(e, EFFECTS_OF_A_CARD)]
    kiosk.send(f.Done())
    assert kiosk.session.state in (f.WELCOME, f.TAKE_CARD)


def test_a_full_queue_refuses_the_application_before_the_card(kiosk) -> None:
    kiosk.send(f.QueueRoom(True), f.Start())
    # the person reads why, in their language: the storage is full, ask the staff
    text = describe(kiosk.session.error_kind, "en")
    refused_before_the_card(kiosk)
    assert text.kind == "queue_full"  # its own texts, in every language (test_i18n)
    assert "full" in text.message and "not been used" in text.message
    assert "staff" in text.remedy


def test_a_full_queue_refuses_a_signed_consent_from_the_menu(kiosk) -> None:
    kiosk.send(f.QueueRoom(True), f.Start(f.MENU_SERVICES))
    assert kiosk.session.state == f.MENU  # the menu itself opens
    kiosk.send(f.Start("health_insurance"))
    refused_before_the_card(kiosk)


def test_a_status_check_still_works_with_a_full_queue(kiosk) -> None:
    kiosk.send(f.QueueRoom(True), f.Start(f.MENU_STATUS), f.CardPlaced())
    assert kiosk.session.state == f.READING_CARD
    assert kiosk.effect(f.ReadCertificate).for_status


def test_full_lasts_across_sessions_until_the_room_comes_back(kiosk) -> None:
    kiosk.send(f.QueueRoom(True), f.Start(), f.Done())
    kiosk.send(f.Start())
    assert kiosk.session.error_kind == "queue_full"  # the next person too
    kiosk.send(f.Cancel(), f.OutOfService(True), f.OutOfService(False))
    kiosk.send(f.Start())
    assert kiosk.session.error_kind == "queue_full"  # maintenance does not forget it
    kiosk.send(f.Cancel(), f.QueueRoom(False), f.Start())
    assert kiosk.session.state == f.NOTES


def test_a_person_already_past_the_start_finishes_when_the_queue_fills(kiosk) -> None:
    kiosk.send(f.Start(), f.QueueRoom(True))
    assert kiosk.session.state == f.NOTES  # the reserve is there for them
    kiosk.send(f.AgreeTerms())
    assert kiosk.session.state == f.PLACE_CARD
