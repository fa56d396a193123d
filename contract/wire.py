"""The wire format shared by the kiosk and the central service (and nothing else).

An enrollment has three layers:

1. The **canonical payload**: what the person asked for, in a fixed encoding. The
   card signs ``SHA-256(canonical_bytes(payload))`` (PKCS#1 v1.5, the card pads).
2. The **sealed part**: payload, certificate and signature, HPKE-sealed to the
   central service's public key (RFC 9180: DHKEM(X25519), HKDF-SHA256, AES-128-GCM).
   The enrollment id and key id are bound in HPKE ``info``, so a sealed blob cannot
   be replayed under another id. The kiosk cannot open it.
3. The **outer item**: enrollment id, kiosk id, receipt number, times, key id and the
   sealed blob, the only things the kiosk can read about its own queue.

    >>> payload = new_payload(kiosk_id="K-0001", campaign_id="2022-card",
    ...     service_code="waon", service_user_id="1234567890", security_codes=["1234"])
    >>> len(payload_digest(payload))
    32
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import secrets
import uuid
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.hpke import AEAD, KDF, KEM, Suite

WIRE_VERSION = 1
HPKE_SUITE = Suite(KEM.X25519, KDF.HKDF_SHA256, AEAD.AES_128_GCM)
_INFO_PREFIX = b"mynapoint-enrollment-v1"

# Result statuses the central service answers per item.
ACCEPTED = "accepted"  # stored; carries mykey_id
REJECTED = "rejected"  # final; carries a reason code (see REJECTION_REASONS)
RETRY = "retry"  # central cannot answer now (adapter down, lacks a key or CA): resend later
CONFLICT = "conflict"  # same enrollment id, different payload (HTTP 422 semantics); final

REJECTION_REASONS = (
    "already_applied",  # this person already chose a service in this campaign
    "account_already_linked",  # the payment account belongs to another person
    "account_not_confirmed",  # 決済サービスID / セキュリティコード not confirmed by the provider
    "too_many_attempts",  # too many wrong security codes for this account or card: locked a while
    "certificate_expired",
    "certificate_revoked",
    "certificate_untrusted",  # chain does not lead to a trusted JPKI CA
    "bad_signature",
    "bad_seal",  # cannot be opened with any key the service holds
    "campaign_closed",
    "service_not_allowed",  # e.g. app-only service sent from a kiosk
    "malformed",
    "kiosk_mismatch",  # the item names a kiosk other than the client certificate's CN
    # answers to a procedure other than the payment-service application (``procedure``):
    "already_registered",  # 健康保険証: this card is registered as an insurance card already
    "insurer_not_covered",  # 健康保険証: the insurer is not covered / not yet connected
    "procedure_unknown",  # the central service has no adapter for the payload's procedure
    "not_eligible",  # 自治体マイナポイント: the municipality's conditions exclude this card
    "already_joined",  # 自治体マイナポイント: this card applied for this campaign already
)
# Refusals that may come from the set-up of the central service or the kiosk (a deleted
# sealing key, a trust store missing a CA generation, a kiosk id that does not match its
# certificate) rather than from the person's own data (issue 12, finding 8). The central
# service never stores them (a resend is judged afresh) and today answers `retry` where it
# knows it lacks a key or a trust anchor; a kiosk keeps the sealed data of a row refused
# for one of them (until the retention limit) so staff can send it again once fixed.
SERVER_SIDE_REASONS = ("bad_seal", "certificate_untrusted", "kiosk_mismatch")

# HTTP API of the central service (mutual TLS; the client certificate's CN is the kiosk id).
#   POST BATCH_PATH  body {"items": [outer_item, ...]} (a bare JSON list is accepted too)
#        -> 200 {"results": [result, ...]}, one per item, same order, keyed by enrollment_id.
#   PUT  ITEM_PATH   body outer_item -> 200 result; 422 on CONFLICT; 503 + Retry-After on RETRY.
# A result: {"enrollment_id", "status": ACCEPTED|REJECTED|RETRY|CONFLICT,
#            "mykey_id" (accepted), "service_code" (accepted; already_applied: the one chosen),
#            "reason" (rejected: one of REJECTION_REASONS), "retry_after" (retry, seconds)}
BATCH_PATH = "/v1/enrollments/batch"
ITEM_PATH = "/v1/enrollments/{enrollment_id}"
STATUS_CHALLENGE_PATH = "/v1/status/challenge"
STATUS_PATH = "/v1/status"
CATALOG_PATH = "/v1/catalog"
CAMPAIGNS_PATH = "/v1/campaigns"
HEARTBEAT_PATH = "/v1/heartbeat"
KIOSKS_PATH = "/v1/kiosks"
SEALING_KEY_PATH = "/v1/sealing-key"
HEALTH_PATH = "/v1/health"  # GET, no body: 200 when the service can take enrollments
# A heartbeat's printer and reader fields: a short status code ("ok", "unknown",
# "printer_no_paper"...), never a driver's free text.
STATUS_CODE_PATTERN = r"[a-z][a-z0-9_]{0,63}"
# A heartbeat's staff-PIN fields (issue 12, finding 15): "staff_locked" (a JSON boolean:
# the staff PIN is locked now after too many wrong tries) and "staff_lockouts" (how many
# times it locked since the kiosk started, an integer 0..MAX_STAFF_LOCKOUTS; the kiosk
# reports at most that).
MAX_STAFF_LOCKOUTS = 1_000_000
# Counters a heartbeat may carry besides its health (issue 13): the outbox's dead items and
# the sync worker's totals since its queue was created (answers recorded, accepted and
# rejected; failed requests and unsettled items); each a non-negative integer at most
# MAX_HEARTBEAT_COUNT. "sync_failures_by_kind" splits sync_failures by error kind (a
# status code such as "central_unreachable", "central_refused_request"; at most
# MAX_FAILURE_KINDS of them) -> count.
HEARTBEAT_COUNTERS = ("dead_items", "sync_accepted", "sync_rejected", "sync_failures")
MAX_HEARTBEAT_COUNT = 10**9
MAX_FAILURE_KINDS = 16
# A heartbeat body may hold this many JSON separators ("," "[" "{"; see
# MAX_ITEM_SEPARATORS): its fields, up to 32 procedures and MAX_FAILURE_KINDS kinds.
MAX_HEARTBEAT_SEPARATORS = 96
# The heartbeat's answer: {"kiosk_id", "ok": true, OUT_OF_SERVICE: bool}. True when an
# operator marked this kiosk out of service: it shows its maintenance screen until false.
OUT_OF_SERVICE = "out_of_service"
MAX_BATCH_ITEMS = 500
# The largest legitimate outer item, JSON-encoded: a certificate of up to 12,000 DER bytes
# (16,000 base64 characters, the bound POST STATUS_PATH puts on one), an RSA-4096
# signature and a payload of at most 1 KiB make an inner JSON of about 17.8 KB; HPKE adds
# 48 bytes and base64 a third, and the outer fields about 250 bytes: 24 KB. A real item is
# about 3.7 KB (a 1,355-byte certificate, RSA-2048). Rounded up to 32 KiB.
MAX_ITEM_BYTES = 32 * 1024
# A request body is refused (HTTP 413) as soon as it is longer than this, while it is read
# and before it is parsed: the largest legitimate batch, MAX_BATCH_ITEMS of the largest
# item (16 MiB). Any other request body may be at most MAX_ITEM_BYTES.
MAX_BATCH_BYTES = MAX_BATCH_ITEMS * MAX_ITEM_BYTES
# Bytes can be cheap values: 16 MiB of "{}," parse into 5.6 million dicts. A body is also
# refused before parsing when it holds more than this many of the bytes that start or
# separate JSON values ("," "[" "{") per item; an outer item has 6 (its base64, uuid, hex
# and time strings hold none).
MAX_ITEM_SEPARATORS = 32


_CANONICAL: dict[str, Any] = {
    "sort_keys": True,
    "separators": (",", ":"),
    "ensure_ascii": False,
    "allow_nan": False,
}


def json_buffer(value: Any, **options: Any) -> bytearray:
    """``json.dumps(value, **options)`` in UTF-8, built into a bytearray the caller can
    :func:`wipe` (issue 12, finding 13).

    The encoder's small pieces (a key, a value, a bracket) pass through short-lived
    ``str`` and ``bytes`` objects, but the whole document exists only in the returned
    buffer, which is allocated once at its final size (never grown, so no copy of it is
    left behind by a reallocation).
    """
    pieces = [piece.encode("utf-8") for piece in json.JSONEncoder(**options).iterencode(value)]
    buffer = bytearray(sum(map(len, pieces)))
    at = 0
    for piece in pieces:
        buffer[at : at + len(piece)] = piece
        at += len(piece)
    return buffer


def wipe(buffer: bytearray) -> None:
    """Overwrite a buffer with zeros in place (same length: no reallocation)."""
    buffer[:] = bytes(len(buffer))


def canonical_buffer(payload: dict[str, Any]) -> bytearray:
    """The canonical payload in a buffer to :func:`wipe` once used (signed or verified)."""
    return json_buffer(payload, **_CANONICAL)


def canonical_bytes(payload: dict[str, Any]) -> bytes:
    """The one byte encoding of a payload that is signed and verified (an immutable copy:
    on the kiosk use :func:`canonical_buffer` and wipe it)."""
    return json.dumps(payload, **_CANONICAL).encode("utf-8")


def payload_digest(payload: dict[str, Any]) -> bytes:
    """SHA-256 of the canonical payload: what the card signs. The encoding it hashes is
    wiped before this returns."""
    buffer = canonical_buffer(payload)
    try:
        return hashlib.sha256(buffer).digest()
    finally:
        wipe(buffer)


def utc_now_text() -> str:
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def new_payload(
    *,
    kiosk_id: str,
    campaign_id: str,
    service_code: str,
    service_user_id: str,
    security_codes: list[str],
    legal_representative: bool = False,
    enrollment_id: str | None = None,
    created_at: str | None = None,
) -> dict[str, Any]:
    """A fresh canonical payload with a client-generated UUID and nonce."""
    return {
        "v": WIRE_VERSION,
        "enrollment_id": enrollment_id or str(uuid.uuid4()),
        "kiosk_id": kiosk_id,
        "campaign_id": campaign_id,
        "service_code": service_code,
        "service_user_id": service_user_id,
        "security_codes": list(security_codes),
        "legal_representative": bool(legal_representative),
        "created_at": created_at or utc_now_text(),
        "nonce": secrets.token_hex(16),
    }


#: The payload key that names a procedure; absent: the Mynapoint payment-service application.
PROCEDURE_KEY = "procedure"
#: An accepted procedure's answer carries ``points`` (granted, 0 or more); with none
#: although its campaign has some, ``points_reason`` says why:
POINTS_NEED_APPLICATION = "needs_mynapoint_application"  # no Mynapoint application yet


def new_procedure_payload(
    *,
    procedure: str,
    kiosk_id: str,
    campaign_id: str,
    fields: dict[str, Any],
    legal_representative: bool = False,
    enrollment_id: str | None = None,
    created_at: str | None = None,
) -> dict[str, Any]:
    """A fresh canonical payload of another procedure (健康保険証の利用申込み, ...).

    Same envelope as an enrollment (id, kiosk, campaign, time, nonce), so it is queued,
    sealed, synced and answered once by its id exactly like one; ``procedure`` names it
    and ``fields`` are the procedure's own (its module's ``WIRE_FIELDS``).
    """
    clash = set(fields) & {
        "v",
        "enrollment_id",
        "kiosk_id",
        "campaign_id",
        "created_at",
        "nonce",
        PROCEDURE_KEY,
        "legal_representative",
    }
    if clash:
        raise ValueError(f"procedure fields may not redefine {sorted(clash)}")
    return {
        "v": WIRE_VERSION,
        PROCEDURE_KEY: procedure,
        "enrollment_id": enrollment_id or str(uuid.uuid4()),
        "kiosk_id": kiosk_id,
        "campaign_id": campaign_id,
        "legal_representative": bool(legal_representative),
        "created_at": created_at or utc_now_text(),
        "nonce": secrets.token_hex(16),
        **fields,
    }


def b64e(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def b64d(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"), validate=True)


def key_id_for(public_key: X25519PublicKey) -> str:
    """A short stable name for a sealing key: first 8 bytes of SHA-256 of its raw bytes."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def hpke_info(key_id: str, enrollment_id: str) -> bytes:
    return b"|".join([_INFO_PREFIX, key_id.encode(), enrollment_id.encode()])


@dataclass(frozen=True)
class SealingKey:
    """The central service's public key as the kiosk holds it."""

    key_id: str
    public_key: X25519PublicKey

    @classmethod
    def from_pem(cls, pem: bytes) -> SealingKey:
        key = serialization.load_pem_public_key(pem)
        if not isinstance(key, X25519PublicKey):
            raise ValueError("the central sealing key must be an X25519 public key")
        return cls(key_id_for(key), key)


def generate_sealing_keypair() -> tuple[bytes, bytes]:
    """(private PEM, public PEM) for the central service's sealing key."""
    private = X25519PrivateKey.generate()
    return (
        private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
        private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
    )


def seal_for_central(
    key: SealingKey, payload: dict[str, Any], certificate_der: bytes, signature: bytes
) -> bytes:
    """HPKE-seal payload, certificate and signature to the central service. The sealing
    input (the payload with the 決済サービスID and security code) is built in a buffer
    that is zeroed once sealed."""
    inner = json_buffer(
        {
            "payload": payload,
            "certificate": b64e(certificate_der),
            "signature": b64e(signature),
        },
        ensure_ascii=False,
    )
    try:
        return HPKE_SUITE.encrypt(
            inner, key.public_key, info=hpke_info(key.key_id, payload["enrollment_id"])
        )
    finally:
        wipe(inner)


def open_sealed(
    private_key: X25519PrivateKey, key_id: str, enrollment_id: str, sealed: bytes
) -> tuple[dict[str, Any], bytes, bytes]:
    """(payload, certificate DER, signature); raises on any tampering or wrong id."""
    inner = json.loads(
        HPKE_SUITE.decrypt(sealed, private_key, info=hpke_info(key_id, enrollment_id))
    )
    payload = inner["payload"]
    if payload.get("enrollment_id") != enrollment_id:
        raise ValueError("sealed payload names another enrollment id")
    return payload, b64d(inner["certificate"]), b64d(inner["signature"])


def status_challenge_digest(nonce: str, kiosk_id: str) -> bytes:
    """What the card signs to ask for its status: SHA-256 over a purpose-tagged payload.

    The purpose tag keeps a status signature from ever passing as an enrollment one.
    """
    return payload_digest(
        {"v": WIRE_VERSION, "purpose": "status", "nonce": nonce, "kiosk_id": kiosk_id}
    )


def batch_body(items: list[dict[str, Any]]) -> dict[str, Any]:
    """The JSON body of a POST to BATCH_PATH."""
    return {"items": list(items)}


def outer_item(
    *,
    enrollment_id: str,
    kiosk_id: str,
    receipt_no: str,
    created_at: str,
    key_id: str,
    sealed: bytes,
) -> dict[str, Any]:
    """One item of a batch POST to the central service (JSON-ready)."""
    return {
        "enrollment_id": enrollment_id,
        "kiosk_id": kiosk_id,
        "receipt_no": receipt_no,
        "created_at": created_at,
        "key_id": key_id,
        "sealed": b64e(sealed),
    }
