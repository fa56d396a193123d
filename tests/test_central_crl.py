"""Revocation lists that cannot be relied on, against the real central service process:
an out-of-date CRL (nextUpdate passed) or one not signed by the CA it names leaves the
card's revocation status unknown, so the enrollment is answered ``retry`` (not accepted,
not stored) until the operator puts a current, genuine CRL in the CRL directory."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization

from contract import wire
from sim.pki import TestPKI, unknown_ca_pki
from tests.fixtures.central import CentralService, start_central
from tests.test_central import enroll_one, valid_item
from tests.test_central_status import ask_status, challenge

pytest_plugins = ["tests.fixtures.central"]

YESTERDAY = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)


@pytest.fixture(scope="module")
def stranger(tmp_path_factory: pytest.TempPathFactory) -> TestPKI:
    """Same 2023 CA name as ``jpki``, another key: its CRLs are forgeries."""
    return unknown_ca_pki(tmp_path_factory.mktemp("stranger"))


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory, jpki: TestPKI) -> Any:
    svc = start_central(tmp_path_factory.mktemp("central-crl"), pki=jpki)
    try:
        yield svc
    finally:
        svc.stop()


@pytest.fixture
def central(service: CentralService) -> Any:
    """The module's service with an empty CRL directory before and after each test."""
    _clear(service.crl_dir)
    yield service
    _clear(service.crl_dir)


def _clear(crl_dir: Path) -> None:
    for path in crl_dir.iterdir():
        path.unlink()


def _put_crl(svc: CentralService, name: str, crl: Any) -> None:
    (svc.crl_dir / name).write_bytes(crl.public_bytes(serialization.Encoding.DER))


@pytest.mark.slow
def test_an_enrollment_on_a_stale_crl_is_retried_not_accepted(central: CentralService) -> None:
    _put_crl(central, "jpki-2023.crl", central.pki.revocation_list("2023", [], YESTERDAY))
    item, _ = valid_item(central)
    answer = enroll_one(central, item)
    assert answer["status"] == wire.RETRY
    assert answer["retry_after"] > 0


def test_the_same_enrollment_is_accepted_once_the_crl_is_refreshed(
    central: CentralService,
) -> None:
    _put_crl(central, "jpki-2023.crl", central.pki.revocation_list("2023", [], YESTERDAY))
    item, _ = valid_item(central)
    assert enroll_one(central, item)["status"] == wire.RETRY
    _put_crl(central, "jpki-2023.crl", central.pki.revocation_list("2023", []))
    assert enroll_one(central, item)["status"] == wire.ACCEPTED


def test_a_stale_crl_is_logged_by_kind_without_the_certificate(central: CentralService) -> None:
    _put_crl(central, "jpki-2023.crl", central.pki.revocation_list("2023", [], YESTERDAY))
    card = central.pki.issue_card()
    item, _ = valid_item(central, card)
    enroll_one(central, item)
    log = central.log_file.read_text(encoding="utf-8")
    assert "central_revocation_unknown" in log
    assert wire.b64e(card.certificate_der)[:40] not in log
    assert str(card.certificate.serial_number) not in log


def test_a_card_listed_on_a_stale_crl_stays_revoked(central: CentralService) -> None:
    card = central.pki.issue_card()
    serial = card.certificate.serial_number
    _put_crl(central, "jpki-2023.crl", central.pki.revocation_list("2023", [serial], YESTERDAY))
    item, _ = valid_item(central, card)
    assert enroll_one(central, item)["reason"] == "certificate_revoked"


def test_a_stale_crl_of_the_other_generation_does_not_hold_up_this_one(
    central: CentralService,
) -> None:
    _put_crl(central, "jpki-2015.crl", central.pki.revocation_list("2015", [], YESTERDAY))
    item, _ = valid_item(central, central.pki.issue_card("2023"))
    assert enroll_one(central, item)["status"] == wire.ACCEPTED


def test_a_crl_signed_by_the_wrong_key_revokes_nothing_and_is_not_trusted(
    central: CentralService, stranger: TestPKI
) -> None:
    card = central.pki.issue_card()
    forged = stranger.revocation_list("2023", [card.certificate.serial_number])
    _put_crl(central, "jpki-2023.crl", forged)
    item, _ = valid_item(central, card)
    answer = enroll_one(central, item)
    assert answer["status"] == wire.RETRY  # neither revoked nor accepted on a forgery


@pytest.mark.slow
def test_a_fresh_genuine_crl_beside_a_forged_one_still_works(
    central: CentralService, stranger: TestPKI
) -> None:
    revoked, good = central.pki.issue_card(), central.pki.issue_card()
    _put_crl(
        central, "forged.crl", stranger.revocation_list("2023", [good.certificate.serial_number])
    )
    _put_crl(
        central,
        "jpki-2023.crl",
        central.pki.revocation_list("2023", [revoked.certificate.serial_number]),
    )
    assert enroll_one(central, valid_item(central, good)[0])["status"] == wire.ACCEPTED
    assert enroll_one(central, valid_item(central, revoked)[0])["reason"] == "certificate_revoked"


def test_a_status_check_on_a_stale_crl_answers_try_later(central: CentralService) -> None:
    _put_crl(central, "jpki-2023.crl", central.pki.revocation_list("2023", [], YESTERDAY))
    card = central.pki.issue_card()
    r = ask_status(central, card, challenge(central))
    assert r.status_code == 503
    assert int(r.headers["Retry-After"]) > 0
