"""Helpers shared by the queue and sync tests: test-PKI cards, signed enrollments, outboxes.

Enrollments are signed exactly as the card signs: PKCS#1 v1.5 over the DigestInfo of
``wire.payload_digest(payload)`` (the card pads; here the card's key from the test PKI).
"""

from __future__ import annotations

import secrets
import tempfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, utils
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from drivers.sim.pki import CardIdentity, TestPKI
from offline_queue.store import Outbox, issuer_serial_key_of
from offline_queue.wire import SealingKey, new_payload, payload_digest

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
def card_pool(n: int = 8) -> tuple[CardIdentity, ...]:
    return tuple(shared_pki().issue_card() for _ in range(n))


def new_card() -> CardIdentity:
    return shared_pki().issue_card()


def card_sign(card: CardIdentity, payload: dict[str, Any]) -> bytes:
    """What the card returns for COMPUTE DIGITAL SIGNATURE over the payload digest."""
    return card.key.sign(
        payload_digest(payload), padding.PKCS1v15(), utils.Prehashed(hashes.SHA256())
    )


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
