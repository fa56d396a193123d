"""Out of service (issue 13): the central heartbeat's answer puts the kiosk on its
maintenance screen; a person already in a session finishes first; back in service,
the welcome screen returns. Pure flow, no window."""

from __future__ import annotations

import pytest

from kiosk import flow as f
from kiosk.catalog import Catalog
from kiosk.i18n import LANGUAGES, t
from tests.test_flow import Kiosk


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.load()


def test_out_of_service_shows_maintenance_and_start_does_nothing(catalog) -> None:
    kiosk = Kiosk(catalog)
    effects = kiosk.send(f.OutOfService(True))
    assert kiosk.session.state == f.MAINTENANCE
    assert any(isinstance(e, f.StopIdleTimer) for e in effects)
    kiosk.send(f.Start(), f.CardPlaced())
    assert kiosk.session.state == f.MAINTENANCE
    kiosk.send(f.OutOfService(False))
    assert kiosk.session.state == f.WELCOME and not kiosk.session.out_of_service


def test_a_person_in_a_session_finishes_then_maintenance(catalog) -> None:
    kiosk = Kiosk(catalog)
    kiosk.to_choose_service()
    kiosk.send(f.OutOfService(True))
    assert kiosk.session.state == f.CHOOSE_SERVICE  # not cut off mid-enrollment
    kiosk.send(f.CardRemoved())
    assert kiosk.session.state == f.MAINTENANCE


def test_the_maintenance_screen_has_its_texts_in_every_language() -> None:
    for lang in LANGUAGES:
        for key in ("screens.maintenance.title", "screens.maintenance.detail"):
            text = t(key, lang)
            assert text and text != key, (lang, key)


def test_the_maintenance_screen_switches_language(catalog) -> None:
    kiosk = Kiosk(catalog)
    kiosk.send(f.OutOfService(True), f.ChooseLanguage("en"))
    assert kiosk.session.state == f.MAINTENANCE and kiosk.session.lang == "en"


def test_a_kiosk_whose_queue_did_not_open_stays_in_maintenance_whatever_the_operator_says(
    catalog,
) -> None:
    """The queue's storage is missing or damaged (kiosk/storage.py): an operator who takes
    the kiosk out of service and back must not open it to applications it cannot store."""
    kiosk = Kiosk(catalog)
    kiosk.send(f.OutOfService(True, storage=True))
    assert kiosk.session.state == f.MAINTENANCE
    kiosk.send(f.OutOfService(True), f.OutOfService(False))
    assert kiosk.session.state == f.MAINTENANCE
    kiosk.send(f.Start(), f.CardPlaced())
    assert kiosk.session.state == f.MAINTENANCE
