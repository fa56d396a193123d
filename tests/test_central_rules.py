"""The central service's rule modules on their own, in process (no network involved):
the reference payment-provider adapter, the catalog/campaign rules and the JPKI
revocation lists. The HTTP behaviour is in the other test_central_* files."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from central.catalog import Catalog
from central.errors import ProviderUnavailable, Rejection
from central.provider import FileAccountsProvider
from central.trust import JpkiVerifier, RevocationUnknown
from sim.pki import TestPKI, unknown_ca_pki

pytest_plugins = ["tests.fixtures.central"]


# -- the reference payment-provider adapter ----------------------------------------------
def test_provider_reads_a_toml_accounts_file(tmp_path: Path) -> None:
    accounts = tmp_path / "accounts.toml"
    accounts.write_text(
        '[[accounts]]\nservice_code = "waon"\nservice_user_id = "1111222233334444"\n'
        'security_codes = ["1234"]\n',
        encoding="utf-8",
    )
    provider = FileAccountsProvider(accounts)
    assert provider.confirm("waon", "1111222233334444", ["1234"]) is True
    assert provider.confirm("waon", "1111222233334444", ["9999"]) is False


def test_provider_needs_every_security_code(tmp_path: Path) -> None:
    accounts = tmp_path / "accounts.json"
    accounts.write_text(
        json.dumps(
            {
                "accounts": [
                    {"service_code": "icoca", "service_user_id": "A1", "security_codes": ["X", "Y"]}
                ]
            }
        )
    )
    provider = FileAccountsProvider(accounts)
    assert provider.confirm("icoca", "A1", ["X"]) is False
    assert provider.confirm("icoca", "A1", ["X", "Y"]) is True


def test_provider_sees_a_changed_file(tmp_path: Path) -> None:
    accounts = tmp_path / "accounts.json"
    accounts.write_text('{"accounts": []}')
    provider = FileAccountsProvider(accounts)
    assert provider.confirm("waon", "1", []) is False
    accounts.write_text('{"accounts": [{"service_code": "waon", "service_user_id": "1"}]}')
    assert provider.confirm("waon", "1", []) is True


def test_provider_without_its_file_is_unavailable_not_a_no(tmp_path: Path) -> None:
    with pytest.raises(ProviderUnavailable):
        FileAccountsProvider(tmp_path / "gone.json").confirm("waon", "1", [])


def test_provider_with_a_broken_file_is_unavailable(tmp_path: Path) -> None:
    accounts = tmp_path / "accounts.json"
    accounts.write_text("{not json")
    with pytest.raises(ProviderUnavailable):
        FileAccountsProvider(accounts).confirm("waon", "1", [])


# -- catalog and campaign rules ------------------------------------------------------------
def _catalog(tmp_path: Path, services: str = "", campaigns: str = "") -> Catalog:
    (tmp_path / "s.toml").write_text(services, encoding="utf-8")
    (tmp_path / "c.toml").write_text(campaigns, encoding="utf-8")
    return Catalog(tmp_path / "s.toml", tmp_path / "c.toml")


def test_campaign_end_date_is_inclusive_in_japan_time(tmp_path: Path) -> None:
    catalog = _catalog(tmp_path, campaigns='[[campaigns]]\nid = "r"\nends = 2023-09-30\n')
    assert catalog.campaign_open("r", "2023-09-30T14:59:59Z")  # 23:59:59 JST
    assert not catalog.campaign_open("r", "2023-09-30T15:00:00Z")  # 10-01 00:00 JST


def test_campaign_not_started_is_closed(tmp_path: Path) -> None:
    catalog = _catalog(tmp_path, campaigns='[[campaigns]]\nid = "r"\nstarts = 2030-01-01\n')
    assert not catalog.campaign_open("r", "2029-12-31T00:00:00Z")
    assert catalog.campaign_open("r", "2030-01-01T00:00:00Z")


def test_a_payload_time_that_is_not_a_time_closes_the_campaign(tmp_path: Path) -> None:
    catalog = _catalog(tmp_path, campaigns='[[campaigns]]\nid = "r"\n')
    assert not catalog.campaign_open("r", "yesterday")


def test_services_as_tables_keyed_by_code_are_read(tmp_path: Path) -> None:
    catalog = _catalog(
        tmp_path,
        services="[services.waon]\nname_en = 'WAON'\n[services.rakuten_pay]\napp_only = true\n",
    )
    assert catalog.service_allowed_at_kiosk("waon")
    assert not catalog.service_allowed_at_kiosk("rakuten_pay")
    assert not catalog.service_allowed_at_kiosk("unknown")
    assert [s["code"] for s in catalog.services_document()["services"]] == ["waon", "rakuten_pay"]


def test_a_broken_data_file_serves_empty_lists(tmp_path: Path) -> None:
    catalog = _catalog(tmp_path, services="[[services]\n", campaigns="= nope")
    assert catalog.services_document()["services"] == []
    assert catalog.campaigns_document()["campaigns"] == []


# -- revocation lists ------------------------------------------------------------------------
def _write_crl(directory: Path, name: str, crl: object) -> None:
    (directory / name).write_bytes(crl.public_bytes(serialization.Encoding.PEM))  # type: ignore[attr-defined]


def test_a_crl_signed_by_an_untrusted_ca_revokes_nothing_and_leaves_status_unknown(
    tmp_path: Path, jpki: TestPKI
) -> None:
    card = jpki.issue_card()
    stranger = unknown_ca_pki(tmp_path / "stranger")  # same DN shape as the 2023 CA
    crl_dir = tmp_path / "crl"
    crl_dir.mkdir()
    _write_crl(
        crl_dir, "forged.pem", stranger.revocation_list("2023", [card.certificate.serial_number])
    )
    verifier = JpkiVerifier(list(jpki.ca_certificates.values()), crl_dir)
    with pytest.raises(RevocationUnknown):  # not Rejection("certificate_revoked")
        verifier.check_certificate(card.certificate_der)


def test_a_stale_crl_makes_revocation_unknown_only_for_its_own_ca(
    tmp_path: Path, jpki: TestPKI
) -> None:
    crl_dir = tmp_path / "crl"
    crl_dir.mkdir()
    past = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    _write_crl(crl_dir, "2023.pem", jpki.revocation_list("2023", [], next_update=past))
    verifier = JpkiVerifier(list(jpki.ca_certificates.values()), crl_dir)
    with pytest.raises(RevocationUnknown):
        verifier.check_certificate(jpki.issue_card("2023").certificate_der)
    older = jpki.issue_card("2015", not_before=dt.datetime(2025, 1, 1, tzinfo=dt.UTC))
    assert verifier.check_certificate(older.certificate_der).certificate == older.certificate


def test_a_crl_goes_stale_with_time_without_the_directory_changing(
    tmp_path: Path, jpki: TestPKI
) -> None:
    crl_dir = tmp_path / "crl"
    crl_dir.mkdir()
    now = dt.datetime.now(dt.UTC)
    _write_crl(crl_dir, "2023.pem", jpki.revocation_list("2023", []))  # current for a day
    card = jpki.issue_card("2023")
    verifier = JpkiVerifier(list(jpki.ca_certificates.values()), crl_dir)
    verifier.check_certificate(card.certificate_der, now=now)
    with pytest.raises(RevocationUnknown):
        verifier.check_certificate(card.certificate_der, now=now + dt.timedelta(days=2))


def test_a_crl_of_the_older_generation_revokes_its_cards(tmp_path: Path, jpki: TestPKI) -> None:
    card = jpki.issue_card(
        "2015",
        not_before=dt.datetime(2025, 1, 1, tzinfo=dt.UTC),
        not_after=dt.datetime.now(dt.UTC) + dt.timedelta(days=30),
    )
    crl_dir = tmp_path / "crl"
    crl_dir.mkdir()
    verifier = JpkiVerifier(list(jpki.ca_certificates.values()), crl_dir)
    verifier.check_certificate(card.certificate_der)
    _write_crl(crl_dir, "2015.pem", jpki.revocation_list("2015", [card.certificate.serial_number]))
    with pytest.raises(Rejection) as rejected:
        verifier.check_certificate(card.certificate_der)
    assert rejected.value.reason == "certificate_revoked"


def test_a_same_serial_from_the_other_generation_is_not_revoked(
    tmp_path: Path, jpki: TestPKI
) -> None:
    card = jpki.issue_card("2023")
    crl_dir = tmp_path / "crl"
    crl_dir.mkdir()
    _write_crl(crl_dir, "2015.pem", jpki.revocation_list("2015", [card.certificate.serial_number]))
    verifier = JpkiVerifier(list(jpki.ca_certificates.values()), crl_dir)
    assert verifier.check_certificate(card.certificate_der).certificate == card.certificate


def test_an_unreadable_crl_file_is_skipped(tmp_path: Path, jpki: TestPKI) -> None:
    crl_dir = tmp_path / "crl"
    crl_dir.mkdir()
    (crl_dir / "junk.crl").write_bytes(b"not a crl")
    card = jpki.issue_card()
    verifier = JpkiVerifier(list(jpki.ca_certificates.values()), crl_dir)
    assert verifier.check_certificate(card.certificate_der).certificate == card.certificate
