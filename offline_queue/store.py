"""The kiosk's durable outbox of enrollments (the only API the kiosk UI uses).

Each enrollment is committed to SQLite (WAL, ``synchronous=FULL``) before
``enqueue`` returns. What the database holds in the clear is only what a stolen
kiosk may leak: ids, receipt numbers, times, states and the central answer. The
certificate, 決済サービスID, セキュリティコード and the card's signature are sealed
with HPKE to the central service's newest public key; the kiosk holds no private
key and cannot open its own queue.

    >>> outbox = Outbox("queue.sqlite3", [sealing_key], "K-0001", guard_secret)  # doctest: +SKIP
    >>> queued = outbox.enqueue(payload, cert_der, signature, issuer_serial_key_of(cert_der))
    ... # doctest: +SKIP
    >>> outbox.wait_for_answer(queued.enrollment_id, timeout_s=1.5).state  # doctest: +SKIP
    'accepted'
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import logging
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import sqlite_utils
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from contract.wire import (
    SERVER_SIDE_REASONS,
    WIRE_VERSION,
    SealingKey,
    canonical_buffer,
    seal_for_central,
    wipe,
)
from offline_queue import policy
from offline_queue.db import open_queue_db, write_transaction
from offline_queue.errors import (
    AlreadyEnrolledHere,
    EnrollmentSignatureInvalid,
    NoSealingKey,
    QueueInputInvalid,
)
from offline_queue.receipt import new_receipt_no, normalize_receipt_no
from offline_queue.wake import send_wake

log = logging.getLogger("offline_queue.store")

T = TypeVar("T")
_GUARD_TAG = b"mynapoint-card-guard-v1|"
_BLOCKING_STATES = (policy.PENDING, policy.SENDING, policy.ACCEPTED)
_RECEIPT_TRIES = 20
_PAYLOAD_FIELDS = ("v", "enrollment_id", "kiosk_id", "campaign_id", "created_at", "nonce")
#: The sync worker's counters in ``sync_state`` (offline_queue/delivery.py): answers it
#: recorded, ``delivered.accepted`` / ``delivered.rejected``, and failures by error kind,
#: ``failed.<kind>``: one per request that got no usable answer, one per item whose answer
#: settled nothing (item retry, conflict, missing). Totals since the queue was created.
DELIVERED = "delivered."
FAILED = "failed."


@dataclass(frozen=True)
class QueuedEnrollment:
    """What the kiosk may tell the person right after the commit."""

    enrollment_id: str
    receipt_no: str
    created_at: str


@dataclass(frozen=True)
class Enrollment:
    """One outbox row as the UI and the staff screen see it (no personal data)."""

    enrollment_id: str
    receipt_no: str
    kiosk_id: str
    created_at: str
    enqueued_at: float
    state: str
    attempts: int
    next_attempt_at: float
    last_error_kind: str | None
    mykey_id: str | None
    service_code: str | None
    reason: str | None
    answered_at: float | None
    shown_at: float | None
    has_sealed_data: bool
    #: points central granted with an accepted procedure (None: its answer said none)
    points: int | None = None
    points_reason: str | None = None

    @property
    def answered(self) -> bool:
        return self.state in policy.FINAL_STATES


#: The room a queue keeps for the applications already under way: below it the kiosk
#: refuses new ones before the card is read (an application takes 4-5 KB with its
#: certificate; 128 KiB holds about 25 of them and a checkpoint's growth).
ROOM_RESERVE_BYTES = 128 * 1024


@dataclass(frozen=True)
class QueueStatus:
    """For the UI's online/offline badge, the staff screen and the heartbeat."""

    counts: dict[str, int]
    oldest_pending_age_s: float | None
    last_success_at: float | None
    last_error_kind: str | None
    last_error_at: float | None = None
    not_before: float | None = None
    #: procedure ('' = the Mynapoint application) -> state -> count (issue 11)
    counts_by_procedure: dict[str, dict[str, int]] = field(default_factory=dict)
    #: the sync worker's totals (issue 13): answers recorded, "accepted" / "rejected" -> n
    delivered: dict[str, int] = field(default_factory=dict)
    #: failed sync requests and unsettled items by error kind (policy.ERROR_*) -> n
    sync_failures: dict[str, int] = field(default_factory=dict)
    #: bytes the queue can still grow by: the lesser of its size cap's and its filesystem's
    room_bytes: int | None = None

    @property
    def full(self) -> bool:
        """Too little room left to store one more application safely (ROOM_RESERVE_BYTES)."""
        return self.room_bytes is not None and self.room_bytes < ROOM_RESERVE_BYTES

    @property
    def online(self) -> bool | None:
        """True when the last word from the central service was an answer (None: never tried)."""
        if self.last_success_at is None and self.last_error_at is None:
            return None
        return (self.last_success_at or 0.0) >= (self.last_error_at or 0.0)


def issuer_serial_key_of(certificate_der: bytes) -> bytes:
    """The card's issuer DN and serial as one byte string (input of the local card guard)."""
    try:
        certificate = x509.load_der_x509_certificate(certificate_der)
    except ValueError as error:
        raise QueueInputInvalid("certificate is not DER X.509") from error
    serial = certificate.serial_number
    return certificate.issuer.public_bytes() + b"|" + serial.to_bytes(21, "big", signed=False)


def verify_card_signature(
    payload: dict[str, Any], certificate_der: bytes, signature: bytes
) -> None:
    """Raise EnrollmentSignatureInvalid unless the card signed SHA-256(canonical payload)."""
    try:
        public_key = x509.load_der_x509_certificate(certificate_der).public_key()
    except ValueError as error:
        raise QueueInputInvalid("certificate is not DER X.509") from error
    if not isinstance(public_key, rsa.RSAPublicKey):
        raise QueueInputInvalid("certificate key is not RSA")
    signed = canonical_buffer(payload)  # wiped at once: it holds the ID and the code
    try:
        public_key.verify(signature, signed, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature as error:
        raise EnrollmentSignatureInvalid("card signature does not match the payload") from error
    finally:
        wipe(signed)


def _row_to_enrollment(row: dict[str, Any]) -> Enrollment:
    return Enrollment(
        enrollment_id=row["enrollment_id"],
        receipt_no=row["receipt_no"],
        kiosk_id=row["kiosk_id"],
        created_at=row["created_at"],
        enqueued_at=row["enqueued_at"],
        state=row["state"],
        attempts=row["attempts"],
        next_attempt_at=row["next_attempt_at"],
        last_error_kind=row["last_error_kind"],
        mykey_id=row["mykey_id"],
        service_code=row["service_code"],
        reason=row["reason"],
        answered_at=row["answered_at"],
        shown_at=row["shown_at"],
        has_sealed_data=bool(row["has_sealed"]),
        points=row["points"],
        points_reason=row["points_reason"],
    )


def _serialized(method: Callable[..., T]) -> Callable[..., T]:
    """One thread at a time on the outbox's connection (the UI and a worker thread may share it)."""

    @functools.wraps(method)
    def locked(self: Outbox, *args: Any, **kwargs: Any) -> T:
        with self._lock:
            return method(self, *args, **kwargs)

    return locked


_SELECT_ENROLLMENT = """
    SELECT enrollment_id, receipt_no, kiosk_id, created_at, enqueued_at, state, attempts,
           next_attempt_at, last_error_kind, mykey_id, service_code, reason, answered_at,
           shown_at, sealed IS NOT NULL AS has_sealed, points, points_reason
    FROM enrollments
"""


class Outbox:
    """The kiosk side of the queue: enqueue, look up, status. Safe to share between threads."""

    def __init__(
        self,
        path: str | Path,
        sealing_keys: Sequence[SealingKey],
        kiosk_id: str,
        guard_secret: bytes,
        *,
        max_size_bytes: int | None = None,
        busy_timeout_s: float = 5.0,
        synchronous: str = "FULL",
    ) -> None:
        """``sealing_keys`` are ordered oldest to newest; the newest seals new enrollments.

        ``max_size_bytes`` caps the database file so the queue can never fill the disk the
        rest of the system needs; ``synchronous="NORMAL"`` exists only for the benchmark.
        """
        if not sealing_keys:
            raise NoSealingKey("no central sealing key configured")
        if len(guard_secret) < 16:
            raise ValueError("guard_secret must hold at least 16 random bytes")
        self.path = Path(path)
        self.kiosk_id = kiosk_id
        self._sealing_key = sealing_keys[-1]
        self._guard_secret = bytes(guard_secret)
        self._lock = threading.RLock()
        self._db = open_queue_db(
            self.path,
            synchronous=synchronous,
            busy_timeout_s=busy_timeout_s,
            max_size_bytes=max_size_bytes,
        )

    # -- the kiosk's writes -------------------------------------------------------------

    @_serialized
    def enqueue(
        self,
        payload: dict[str, Any],
        certificate_der: bytes,
        signature: bytes,
        issuer_serial_key: bytes,
    ) -> QueuedEnrollment:
        """Seal and commit one signed enrollment; returns only after the commit is durable.

        Enqueuing the same enrollment id again returns the first receipt (safe to retry).
        Raises AlreadyEnrolledHere, QueueDiskFull, QueueInputInvalid or
        EnrollmentSignatureInvalid; on any error nothing is stored.
        """
        enrollment_id = self._checked_enrollment_id(payload)
        verify_card_signature(payload, certificate_der, signature)
        sealed = seal_for_central(self._sealing_key, payload, certificate_der, signature)
        guard = self._card_guard(issuer_serial_key)
        with write_transaction(self._db):
            queued = self._existing(enrollment_id, guard)
            if queued is None:
                if self._guard_blocks(guard):
                    raise AlreadyEnrolledHere("this card has an open or accepted enrollment here")
                queued = self._insert(
                    enrollment_id, payload["created_at"], sealed, guard, _procedure_of(payload)
                )
        self.wake_sync()
        return queued

    @_serialized
    def mark_shown(self, enrollment_id: str) -> None:
        """The answer was shown (to the person, or to staff for dead rows): wipe the seal.

        For a dead row, call this only from the staff screen once staff has dealt with it:
        without the sealed data the enrollment can no longer be resent. A row refused for a
        server-side reason (``wire.SERVER_SIDE_REASONS``) keeps its sealed data until the
        retention limit, so staff can still resend it (:meth:`resend_server_refused`).
        """
        with write_transaction(self._db) as db:
            db.execute(
                "UPDATE enrollments SET shown_at = coalesce(shown_at, ?),"
                " sealed = CASE WHEN state IN (?, ?, ?) AND NOT (state = ? AND reason IN"
                " (SELECT value FROM json_each(?))) THEN NULL ELSE sealed END"
                " WHERE enrollment_id = ?",
                [
                    time.time(),
                    *policy.FINAL_STATES,
                    policy.REJECTED,
                    json.dumps(SERVER_SIDE_REASONS),
                    enrollment_id,
                ],
            )

    @_serialized
    def resend_server_refused(self) -> int:
        """Staff action: send again every row the central service refused for a reason of
        its own set-up (``wire.SERVER_SIDE_REASONS``: a lost sealing key, a trust store
        missing a CA generation...), once the operator has fixed it. Returns how many rows
        went back to pending; logs the count and nothing of any person."""
        with write_transaction(self._db) as db:
            cursor = db.execute(
                "UPDATE enrollments SET state = ?, strikes = 0, next_attempt_at = ?,"
                " answered_at = NULL, shown_at = NULL, reason = NULL, service_code = NULL,"
                " last_error_kind = NULL"
                " WHERE state = ? AND sealed IS NOT NULL"
                " AND reason IN (SELECT value FROM json_each(?))",
                [policy.PENDING, time.time(), policy.REJECTED, json.dumps(SERVER_SIDE_REASONS)],
            )
            count = cursor.rowcount
        log.info("staff_resend_server_refused rows=%d", count)
        if count:
            self.wake_sync()
        return count

    @_serialized
    def count_server_refused(self) -> int:
        """Rows refused for a server-side reason that staff could still resend."""
        return self._db.execute(
            "SELECT count(*) FROM enrollments WHERE state = ? AND sealed IS NOT NULL"
            " AND reason IN (SELECT value FROM json_each(?))",
            [policy.REJECTED, json.dumps(SERVER_SIDE_REASONS)],
        ).fetchone()[0]

    @_serialized
    def retry_dead(self, enrollment_id: str) -> bool:
        """Staff action: send a dead enrollment again (False if its sealed data is gone)."""
        with write_transaction(self._db) as db:
            cursor = db.execute(
                "UPDATE enrollments SET state = ?, strikes = 0, next_attempt_at = ?,"
                " answered_at = NULL, last_error_kind = NULL"
                " WHERE enrollment_id = ? AND state = ? AND sealed IS NOT NULL",
                [policy.PENDING, time.time(), enrollment_id, policy.DEAD],
            )
            requeued = cursor.rowcount == 1
        if requeued:
            self.wake_sync()
        return requeued

    def wake_sync(self) -> bool:
        """Ask the sync worker to look now (False when no worker is running)."""
        return send_wake(self.path)

    # -- reads ----------------------------------------------------------------------------

    @_serialized
    def already_enrolled_here(self, issuer_serial_key: bytes) -> bool:
        """True when this card has a pending, sending or accepted enrollment at this kiosk."""
        return self._guard_blocks(self._card_guard(issuer_serial_key))

    @_serialized
    def get(self, enrollment_id: str) -> Enrollment | None:
        query = _SELECT_ENROLLMENT + " WHERE enrollment_id = ?"
        rows = list(self._db.query(query, [enrollment_id]))
        return _row_to_enrollment(rows[0]) if rows else None

    @_serialized
    def find_by_receipt_no(self, typed: str) -> Enrollment | None:
        """Look up a receipt number as a person typed it (raises ReceiptNumberInvalid)."""
        receipt_no = normalize_receipt_no(typed)
        rows = list(self._db.query(_SELECT_ENROLLMENT + " WHERE receipt_no = ?", [receipt_no]))
        return _row_to_enrollment(rows[0]) if rows else None

    def wait_for_answer(self, enrollment_id: str, timeout_s: float = 1.5) -> Enrollment | None:
        """Poll until the central answer is in (or the timeout passes); returns the row."""
        deadline = time.monotonic() + timeout_s
        while True:
            enrollment = self.get(enrollment_id)
            if enrollment is None or enrollment.answered or time.monotonic() >= deadline:
                return enrollment
            time.sleep(0.02)

    @_serialized
    def list_by_state(self, state: str, limit: int = 100) -> list[Enrollment]:
        """Rows in one state, oldest first (the staff screen's dead and rejected lists)."""
        rows = self._db.query(
            _SELECT_ENROLLMENT + " WHERE state = ? ORDER BY enqueued_at LIMIT ?", [state, limit]
        )
        return [_row_to_enrollment(row) for row in rows]

    @_serialized
    def status(self) -> QueueStatus:
        return queue_status(self._db)

    @_serialized
    def room_full(self) -> bool:
        """Whether the queue has too little room left for one more application (cheap:
        five pragmas and a statvfs, after each enqueue)."""
        room = room_bytes(self._db.conn)
        return room is not None and room < ROOM_RESERVE_BYTES

    @_serialized
    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Outbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals ------------------------------------------------------------------------

    def _checked_enrollment_id(self, payload: dict[str, Any]) -> str:
        if not isinstance(payload, dict) or any(f not in payload for f in _PAYLOAD_FIELDS):
            raise QueueInputInvalid("payload lacks a required field")
        if payload["v"] != WIRE_VERSION:
            raise QueueInputInvalid(f"payload wire version {payload['v']!r} is not {WIRE_VERSION}")
        if payload["kiosk_id"] != self.kiosk_id:
            raise QueueInputInvalid("payload names another kiosk")
        try:
            enrollment_id = str(uuid.UUID(str(payload["enrollment_id"])))
        except ValueError as error:
            raise QueueInputInvalid("enrollment_id is not a UUID") from error
        if enrollment_id != payload["enrollment_id"]:
            raise QueueInputInvalid("enrollment_id is not a canonical lowercase UUID")
        return enrollment_id

    def _card_guard(self, issuer_serial_key: bytes) -> bytes:
        if not issuer_serial_key:
            raise QueueInputInvalid("issuer_serial_key is empty")
        return hmac.new(self._guard_secret, _GUARD_TAG + issuer_serial_key, hashlib.sha256).digest()

    def _guard_blocks(self, guard: bytes) -> bool:
        row = self._db.execute(
            "SELECT 1 FROM enrollments WHERE card_guard = ? AND state IN (?, ?, ?) LIMIT 1",
            [guard, *_BLOCKING_STATES],
        ).fetchone()
        return row is not None

    def _existing(self, enrollment_id: str, guard: bytes) -> QueuedEnrollment | None:
        row = self._db.execute(
            "SELECT receipt_no, created_at, card_guard FROM enrollments WHERE enrollment_id = ?",
            [enrollment_id],
        ).fetchone()
        if row is None:
            return None
        if not hmac.compare_digest(row[2], guard):
            raise QueueInputInvalid("enrollment_id already used by another card")
        return QueuedEnrollment(enrollment_id, row[0], row[1])

    def _insert(
        self, enrollment_id: str, created_at: str, sealed: bytes, guard: bytes, procedure: str = ""
    ) -> QueuedEnrollment:
        now = time.time()
        receipt_no = self._unused_receipt_no()
        self._db.execute(
            "INSERT INTO enrollments (enrollment_id, receipt_no, kiosk_id, created_at,"
            " enqueued_at, key_id, sealed, card_guard, state, next_attempt_at, procedure)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                enrollment_id,
                receipt_no,
                self.kiosk_id,
                created_at,
                now,
                self._sealing_key.key_id,
                sealed,
                guard,
                policy.PENDING,
                now,
                procedure,
            ],
        )
        return QueuedEnrollment(enrollment_id, receipt_no, created_at)

    def _unused_receipt_no(self) -> str:
        for _ in range(_RECEIPT_TRIES):
            receipt_no = new_receipt_no()
            taken = self._db.execute(
                "SELECT 1 FROM enrollments WHERE receipt_no = ?", [receipt_no]
            ).fetchone()
            if taken is None:
                return receipt_no
        raise QueueInputInvalid("could not find an unused receipt number")  # 32^8 space


def queue_status(db: sqlite_utils.Database) -> QueueStatus:
    """Counts by state, oldest open age, last success and error: no personal data."""
    counts = dict.fromkeys(policy.STATES, 0)
    for row in db.query("SELECT state, count(*) AS n FROM enrollments GROUP BY state"):
        counts[row["state"]] = row["n"]
    oldest = db.execute(
        "SELECT min(enqueued_at) FROM enrollments WHERE state IN (?, ?)", policy.OPEN_STATES
    ).fetchone()[0]
    by_procedure: dict[str, dict[str, int]] = {}
    for row in db.query(
        "SELECT procedure, state, count(*) AS n FROM enrollments GROUP BY procedure, state"
    ):
        by_procedure.setdefault(row["procedure"], dict.fromkeys(policy.STATES, 0))
        by_procedure[row["procedure"]][row["state"]] = row["n"]
    state = read_sync_state(db.conn)
    return QueueStatus(
        counts=counts,
        oldest_pending_age_s=None if oldest is None else max(0.0, time.time() - oldest),
        last_success_at=state.get("last_success_at"),
        last_error_kind=state.get("last_error_kind"),
        last_error_at=state.get("last_error_at"),
        not_before=state.get("not_before"),
        counts_by_procedure=by_procedure,
        delivered=_counters(state, DELIVERED),
        sync_failures=_counters(state, FAILED),
        room_bytes=room_bytes(db.conn),
    )


def room_bytes(conn: Any) -> int | None:
    """How many bytes the database can still grow by: free pages inside it, plus the
    lesser of the pages its ``max_page_count`` allows and its filesystem's free space
    (None for a database in memory).

    The filesystem's share is net of what the write-ahead log may still grow by: it
    grows to ``wal_autocheckpoint`` pages (about 4 MB) before a checkpoint lets it be
    reused, and every transaction writes whole pages to it, so on a nearly full disk
    the log, not the rows, is what runs out first. It is net too of the pages that are
    still only in the log: a checkpoint writes them into the database file."""

    def pragma(name: str) -> int:
        return int(conn.execute(f"PRAGMA {name}").fetchone()[0])

    file = next((row[2] for row in conn.execute("PRAGMA database_list") if row[1] == "main"), "")
    if not file:
        return None
    page_size = pragma("page_size")
    disk = os.statvfs(os.path.dirname(file))
    wal_now = os.path.getsize(file + "-wal") if os.path.exists(file + "-wal") else 0
    wal_most = 32 + pragma("wal_autocheckpoint") * (page_size + 24)
    pages = pragma("page_count")
    unwritten = max(0, pages * page_size - os.path.getsize(file))  # in the log only
    on_disk = disk.f_bavail * disk.f_frsize - max(0, wal_most - wal_now) - unwritten
    growth = min((pragma("max_page_count") - pages) * page_size, on_disk)
    return max(0, growth) + pragma("freelist_count") * page_size


def _counters(state: dict[str, Any], prefix: str) -> dict[str, int]:
    return {
        name[len(prefix) :]: int(value)
        for name, value in sorted(state.items())
        if name.startswith(prefix) and isinstance(value, int)
    }


def _procedure_of(payload: dict[str, Any]) -> str:
    """The payload's procedure name ('' for the Mynapoint application), checked to be a name."""
    name = payload.get("procedure", "")
    if not isinstance(name, str) or (name and not name.isidentifier()) or len(name) > 64:
        raise QueueInputInvalid("payload names no valid procedure")
    return name


def read_sync_state(conn: sqlite3.Connection) -> dict[str, Any]:
    """The sync worker's small key/value state (last success, last error, Retry-After)."""
    return dict(conn.execute("SELECT name, value FROM sync_state").fetchall())
