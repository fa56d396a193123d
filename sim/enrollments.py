"""Helpers shared by the queue and sync tests: test-PKI cards, signed enrollments, outboxes.

Enrollments are signed exactly as the card signs: PKCS#1 v1.5 over the DigestInfo of
``wire.payload_digest(payload)`` (the card pads; here the card's key from the test PKI).
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from contract.wire import SealingKey, new_payload, payload_digest
from offline_queue import policy
from offline_queue.policy import Backoff
from offline_queue.store import Outbox, issuer_serial_key_of
from offline_queue.sync import CentralClient, SyncWorker, command_line
from sim.pki import CardIdentity, TestPKI, new_rsa_key
from sim.waiting import eventually

KIOSK_ID = "K-0001"
CAMPAIGN_ID = "2022-card"
# Marker values: easy to grep for in the raw database bytes.
SERVICE_USER_ID = "ZZSECRETID0123456789"
SECURITY_CODE = "SECCODE7788"


@cache
def shared_pki() -> TestPKI:
    """One test PKI per test process (RSA CA keys are slow to make)."""
    return TestPKI.create(Path(tempfile.mkdtemp(prefix="queue-pki-")))


@cache
def _shared_card_key() -> rsa.RSAPrivateKey:
    return new_rsa_key()


def new_card(pki: TestPKI | None = None) -> CardIdentity:
    """A card with its own certificate (own serial and opaque id) from the 2023 test CA.

    Cards share one RSA key to keep the tests fast (a 2048-bit key takes ~0.1 s to make);
    the central service tells people apart by issuer and serial, not by key.
    """
    return (pki or shared_pki()).issue_card("2023", key=_shared_card_key())


def card_sign(card: CardIdentity, payload: dict[str, Any]) -> bytes:
    """What the card returns for COMPUTE DIGITAL SIGNATURE over the payload digest."""
    return card.sign_digest(payload_digest(payload))


@dataclass(frozen=True)
class SignedEnrollment:
    payload: dict[str, Any]
    certificate_der: bytes
    signature: bytes
    issuer_serial_key: bytes

    def args(self) -> tuple[dict[str, Any], bytes, bytes, bytes]:
        return (self.payload, self.certificate_der, self.signature, self.issuer_serial_key)


def signed_enrollment(
    card: CardIdentity,
    kiosk_id: str = KIOSK_ID,
    *,
    service_code: str = "waon",
    service_user_id: str = SERVICE_USER_ID,
    security_codes: tuple[str, ...] = (SECURITY_CODE,),
    campaign_id: str = CAMPAIGN_ID,
) -> SignedEnrollment:
    payload = new_payload(
        kiosk_id=kiosk_id,
        campaign_id=campaign_id,
        service_code=service_code,
        service_user_id=service_user_id,
        security_codes=list(security_codes),
    )
    return SignedEnrollment(
        payload,
        card.certificate_der,
        card_sign(card, payload),
        issuer_serial_key_of(card.certificate_der),
    )


@dataclass(frozen=True)
class CentralSealingKey:
    """The central service's side of a sealing key (tests only: the kiosk never holds it)."""

    private_key: X25519PrivateKey
    public: SealingKey

    @classmethod
    def generate(cls) -> CentralSealingKey:
        private = X25519PrivateKey.generate()
        pem = private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return cls(private, SealingKey.from_pem(pem))


def make_outbox(
    path: Path,
    keys: list[SealingKey],
    kiosk_id: str = KIOSK_ID,
    guard_secret: bytes | None = None,
    **kwargs: Any,
) -> Outbox:
    return Outbox(path, keys, kiosk_id, guard_secret or secrets.token_bytes(32), **kwargs)


# -- against the reference central service (tests/fixtures/central.py) ------------------


def central_outbox(central: Any, path: Path, **kwargs: Any) -> Outbox:
    """An outbox for the central fixture's kiosk, sealing to its public key."""
    return Outbox(path, [central.sealing_key], central.kiosk_id, secrets.token_bytes(32), **kwargs)


def central_client(central: Any, url: str | None = None, **kwargs: Any) -> CentralClient:
    kwargs.setdefault("connect_timeout_s", 2.0)
    kwargs.setdefault("read_timeout_s", 5.0)
    return CentralClient(
        url or central.base_url, central.ca_cert, central.client_cert, central.client_key, **kwargs
    )


def quick_worker(db: Path, client: CentralClient, **kwargs: Any) -> SyncWorker:
    """A worker with short backoff (tests must not wait minutes)."""
    kwargs.setdefault("backoff", Backoff(base_s=0.05, cap_s=0.3))
    return SyncWorker(db, client, **kwargs)


def enroll_valid(outbox: Outbox, central: Any, card: CardIdentity | None = None) -> Any:
    """Enqueue a new person's enrollment with a fresh account the provider confirms."""
    service_code, user_id, codes = central.new_account()
    enrollment = signed_enrollment(
        card or new_card(central.pki),
        central.kiosk_id,
        service_code=service_code,
        service_user_id=user_id,
        security_codes=tuple(codes),
    )
    return outbox.enqueue(*enrollment.args())


def sync_until_settled(worker: SyncWorker, outbox: Outbox, timeout_s: float = 20.0) -> None:
    """Run passes until nothing is open (or fail after ``timeout_s``)."""

    def settled() -> bool:
        worker.run_once()
        counts = outbox.status().counts
        return counts[policy.PENDING] == counts[policy.SENDING] == 0

    eventually(settled, timeout_s, "a settled queue (nothing pending or sending)", interval=0.05)


def central_answers(central: Any) -> dict[str, tuple[str, int]]:
    """enrollment id -> (status, how many rows) as the central service stored them."""
    conn = sqlite3.connect(f"file:{central.database_file}?mode=ro", uri=True, timeout=10)
    try:
        rows = conn.execute(
            "SELECT enrollment_id, status, count(*) FROM enrollments GROUP BY enrollment_id"
        ).fetchall()
        return {row[0]: (row[1], row[2]) for row in rows}
    finally:
        conn.close()


def central_mykey_ids(central: Any) -> dict[str, str | None]:
    """enrollment id -> the MyKey ID in the central service's stored answer."""
    conn = sqlite3.connect(f"file:{central.database_file}?mode=ro", uri=True, timeout=10)
    try:
        rows = conn.execute("SELECT enrollment_id, answer FROM enrollments").fetchall()
    finally:
        conn.close()
    return {row[0]: json.loads(row[1]).get("mykey_id") for row in rows}


def central_application_count(central: Any) -> int:
    conn = sqlite3.connect(f"file:{central.database_file}?mode=ro", uri=True, timeout=10)
    try:
        return conn.execute("SELECT count(*) FROM applications").fetchone()[0]
    finally:
        conn.close()


def sync_process(
    central: Any, db: Path, *extra: str, wait_ready: bool = True, ready_timeout_s: float = 20.0
) -> subprocess.Popen:
    """``mynapoint-sync`` as its own process, as systemd runs it.

    With ``wait_ready`` this returns once the worker said ``READY=1`` on its systemd
    notify socket (its wake socket is bound and the first pass is about to start).
    """
    script = Path(sys.executable).parent / "mynapoint-sync"  # the console script, as installed
    command = [str(script)] if script.exists() else [sys.executable, "-m", "offline_queue.sync"]
    env = dict(os.environ)
    notify = None
    if wait_ready:
        notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        name = f"mynapoint-test-notify-{secrets.token_hex(8)}"
        notify.bind("\0" + name)
        env["NOTIFY_SOCKET"] = "@" + name
    process = subprocess.Popen(
        [
            *command,
            *command_line(
                db,
                central.base_url,
                central.ca_cert,
                central.client_cert,
                central.client_key,
                backoff_base=0.05,
                backoff_cap=0.5,
            ),
            *extra,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
    )
    if notify is not None:
        with notify:
            _wait_ready(notify, process, ready_timeout_s)
    return process


def _wait_ready(notify: socket.socket, process: subprocess.Popen, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        notify.settimeout(0.2)
        try:
            if b"READY=1" in notify.recv(256):
                return
        except TimeoutError:
            if process.poll() is not None:
                raise RuntimeError(f"mynapoint-sync exited with {process.returncode}") from None
    process.kill()
    raise RuntimeError(f"mynapoint-sync did not say READY=1 within {timeout_s}s")


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)


# -- a kiosk that enqueues in a loop, to be killed with SIGKILL (tests/test_queue_crash.py) --

GUARD_SECRET_FOR_CRASH_TESTS = b"crash-test-guard-secret-32-bytes"


def enqueue_forever(db: Path, public_pem: Path, kiosk_id: str, pki_dir: Path) -> None:
    """Enqueue fresh enrollments forever, printing each receipt once its enqueue returned."""
    pki = TestPKI.load_or_create(pki_dir)
    key = SealingKey.from_pem(public_pem.read_bytes())
    outbox = Outbox(db, [key], kiosk_id, GUARD_SECRET_FOR_CRASH_TESTS)
    while True:
        queued = outbox.enqueue(*signed_enrollment(new_card(pki), kiosk_id).args())
        print(queued.receipt_no, flush=True)


if __name__ == "__main__":
    enqueue_forever(Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], Path(sys.argv[4]))
