"""What the central database holds: no 決済サービスID, no セキュリティコード, no certificate.

Checked on the bytes on disk (SQLite file and its WAL; the PostgreSQL cluster's data and
WAL files after a checkpoint), not through the service's own queries."""

from __future__ import annotations

import secrets
import string
from pathlib import Path

import psycopg
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from contract import wire
from sim.pki import CardIdentity, TestPKI
from tests.fixtures.central import CentralService, PostgresCluster, start_central

pytest_plugins = ["tests.fixtures.central"]

pytestmark = pytest.mark.slow  # each test here takes half a second or more


def _needles(card: CardIdentity, user_id: str, code: str) -> dict[str, bytes]:
    cert = card.certificate
    key = cert.public_key()
    assert isinstance(key, rsa.RSAPublicKey)
    modulus = key.public_numbers().n.to_bytes(256, "big")
    serial = cert.serial_number
    return {
        "service_user_id": user_id.encode(),
        "security_code": code.encode(),
        "certificate DER (first 64 bytes of the TBS)": card.certificate_der[4:68],
        "certificate base64": wire.b64e(card.certificate_der)[:40].encode(),
        "public key modulus": modulus[:32],
        "certificate CN": cert.subject.rfc4514_string().split("CN=")[1][:20].encode(),
        "serial (decimal)": str(serial).encode(),
        "serial (hex)": f"{serial:x}".encode(),
        "serial (bytes)": serial.to_bytes((serial.bit_length() + 7) // 8, "big"),
    }


def _enroll_distinctive(svc: CentralService) -> dict[str, bytes]:
    """Enroll, then the same account from another person and a second campaign."""
    card = svc.pki.issue_card()
    user_id = "".join(secrets.choice(string.ascii_uppercase) for _ in range(18))
    code = "".join(secrets.choice(string.ascii_uppercase) for _ in range(10))
    svc.add_account("waon", user_id, [code])
    items = [
        svc.make_item(card, service_code="waon", service_user_id=user_id, security_codes=[code])[0],
        svc.make_item(
            svc.pki.issue_card(),
            service_code="waon",
            service_user_id=user_id,
            security_codes=[code],
        )[0],
        svc.make_item(
            card,
            service_code="waon",
            service_user_id=user_id,
            security_codes=["WRONG"],
            campaign_id="2020-card",
        )[0],
    ]
    with svc.session() as s:
        r = s.post(svc.base_url + wire.BATCH_PATH, json=wire.batch_body(items), timeout=30)
    statuses = [x.get("reason", x["status"]) for x in r.json()["results"]]
    assert statuses == ["accepted", "account_already_linked", "account_not_confirmed"]
    return _needles(card, user_id, code)


def _files_bytes(paths: list[Path]) -> bytes:
    return b"".join(p.read_bytes() for p in paths if p.is_file())


def test_sqlite_database_holds_no_ids_codes_or_certificates(tmp_path: Path, jpki: TestPKI) -> None:
    svc = start_central(tmp_path, pki=jpki)
    try:
        needles = _enroll_distinctive(svc)
    finally:
        svc.stop()
    db = svc.database_file
    on_disk = _files_bytes([db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")])
    assert len(on_disk) > 4096
    found = [name for name, needle in needles.items() if needle in on_disk]
    assert found == []


def test_postgresql_database_holds_no_ids_codes_or_certificates(
    tmp_path: Path, jpki: TestPKI, postgres_server: PostgresCluster
) -> None:
    dsn = postgres_server.new_database()
    svc = start_central(tmp_path, dsn=dsn, pki=jpki)
    try:
        needles = _enroll_distinctive(svc)
    finally:
        svc.stop()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CHECKPOINT")
    cluster_files = [p for p in (postgres_server.directory / "data").rglob("*") if p.is_file()]
    on_disk = _files_bytes(cluster_files)
    found = [name for name, needle in needles.items() if needle in on_disk]
    assert found == []


def test_the_service_log_holds_no_ids_or_codes(tmp_path: Path, jpki: TestPKI) -> None:
    svc = start_central(tmp_path, pki=jpki)
    try:
        needles = _enroll_distinctive(svc)
    finally:
        svc.stop()
    log = svc.log_file.read_bytes()
    assert b"enrollment_answered" in log
    assert [name for name, needle in needles.items() if needle in log] == []
