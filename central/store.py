"""Storage of the central service: SQLite (default, WAL) or PostgreSQL (several processes).

The rules that must hold across processes are database constraints, not code:

- ``enrollments`` has the key (kiosk_id, enrollment_id): one answer per enrollment of a
  kiosk, forever; an id is the kiosk's own, so another kiosk cannot take or probe it.
- ``persons.cert_ref`` is unique: one MyKey ID per certificate (issuer + serial).
- ``applications`` has the key (campaign_id, mykey_id): one service per person per campaign.
- ``account_links.account_ref`` is the key: one person per payment account.

Writes use ``INSERT ... ON CONFLICT DO NOTHING RETURNING`` so that two processes racing
for the same person or account wait for each other and exactly one wins. An enrollment's
row is inserted first, so a resend (or another process that stored the id first) is
known before anything else is written, and no savepoint is needed (issue 13: each
statement is a round trip to PostgreSQL). Nothing here
holds an ID, a code or a certificate: only keyed hashes (``cert_ref``, ``account_ref``).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import secrets
import sqlite3
import string
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from central.console.schema import CONSOLE_SCHEMA, CONSOLE_SCHEMA_V2
from central.errors import CentralError
from contract.wire import POINTS_NEED_APPLICATION

log = logging.getLogger(__name__)

MYKEY_ALPHABET = string.ascii_uppercase + string.digits
MYKEY_LENGTH = 8

_SCHEMA_V1 = [
    """CREATE TABLE IF NOT EXISTS persons (
        cert_ref TEXT PRIMARY KEY,
        mykey_id TEXT NOT NULL UNIQUE,
        created_at TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS applications (
        campaign_id TEXT NOT NULL,
        mykey_id TEXT NOT NULL REFERENCES persons(mykey_id),
        service_code TEXT NOT NULL,
        enrollment_id TEXT NOT NULL UNIQUE,
        created_at TEXT NOT NULL,
        PRIMARY KEY (campaign_id, mykey_id))""",
    """CREATE TABLE IF NOT EXISTS account_links (
        account_ref TEXT PRIMARY KEY,
        mykey_id TEXT NOT NULL REFERENCES persons(mykey_id),
        enrollment_id TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS enrollments (
        enrollment_id TEXT PRIMARY KEY,
        payload_digest TEXT NOT NULL,
        kiosk_id TEXT NOT NULL,
        receipt_no TEXT NOT NULL,
        status TEXT NOT NULL,
        answer TEXT NOT NULL,
        answered_at TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS status_challenges (
        nonce TEXT PRIMARY KEY,
        kiosk_id TEXT NOT NULL,
        expires_at DOUBLE PRECISION NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS kiosks (
        kiosk_id TEXT PRIMARY KEY,
        last_seen DOUBLE PRECISION NOT NULL,
        health TEXT NOT NULL)""",
]
# v2: an enrollment id is the kiosk's own (kiosk_id, enrollment_id), so one kiosk cannot
# take or probe another's id (issue 12, finding 5). Tables are rebuilt (SQLite cannot
# change a key in place); rows keep their kiosk, which every answer already recorded.
_SCHEMA_V2 = [
    """CREATE TABLE applications_v2 (
        campaign_id TEXT NOT NULL,
        mykey_id TEXT NOT NULL REFERENCES persons(mykey_id),
        service_code TEXT NOT NULL,
        kiosk_id TEXT NOT NULL,
        enrollment_id TEXT NOT NULL,
        created_at TEXT NOT NULL,
        PRIMARY KEY (campaign_id, mykey_id),
        UNIQUE (kiosk_id, enrollment_id))""",
    """INSERT INTO applications_v2 (campaign_id, mykey_id, service_code, kiosk_id,
        enrollment_id, created_at)
        SELECT a.campaign_id, a.mykey_id, a.service_code, e.kiosk_id, a.enrollment_id,
        a.created_at FROM applications a JOIN enrollments e ON e.enrollment_id = a.enrollment_id""",
    "DROP TABLE applications",
    "ALTER TABLE applications_v2 RENAME TO applications",
    """CREATE TABLE enrollments_v2 (
        enrollment_id TEXT NOT NULL,
        payload_digest TEXT NOT NULL,
        kiosk_id TEXT NOT NULL,
        receipt_no TEXT NOT NULL,
        status TEXT NOT NULL,
        answer TEXT NOT NULL,
        answered_at TEXT NOT NULL,
        PRIMARY KEY (kiosk_id, enrollment_id))""",
    """INSERT INTO enrollments_v2 (enrollment_id, payload_digest, kiosk_id, receipt_no,
        status, answer, answered_at)
        SELECT enrollment_id, payload_digest, kiosk_id, receipt_no, status, answer,
        answered_at FROM enrollments""",
    "DROP TABLE enrollments",
    "ALTER TABLE enrollments_v2 RENAME TO enrollments",
]
# v3: wrong security codes counted per account and per card (keyed hashes only), for the
# lockout (issue 12, finding 3).
_SCHEMA_V3 = [
    """CREATE TABLE IF NOT EXISTS code_failures (
        subject TEXT PRIMARY KEY,
        failures INTEGER NOT NULL,
        window_start DOUBLE PRECISION NOT NULL,
        locked_until DOUBLE PRECISION NOT NULL)""",
]
# v4: procedures beside the Mynapoint application (issue 11): one registration per
# procedure per card (健康保険証の利用申込み), keyed by the certificate's keyed hash.
_SCHEMA_V4 = [
    """CREATE TABLE IF NOT EXISTS registrations (
        procedure TEXT NOT NULL,
        cert_ref TEXT NOT NULL,
        campaign_id TEXT NOT NULL,
        points INTEGER NOT NULL,
        kiosk_id TEXT NOT NULL,
        enrollment_id TEXT NOT NULL,
        created_at TEXT NOT NULL,
        PRIMARY KEY (procedure, cert_ref),
        UNIQUE (kiosk_id, enrollment_id))""",
]
# v5: operator accounts, console sessions and kiosks marked out of service (issue 13);
# self-contained in central/console/schema.py; v6 the registrations' time index (console).
MIGRATIONS: list[list[str]] = [
    *(_SCHEMA_V1, _SCHEMA_V2, _SCHEMA_V3, _SCHEMA_V4, CONSOLE_SCHEMA),
    CONSOLE_SCHEMA_V2,
]


class StoreUnavailable(CentralError):
    """The database cannot answer now (locked, down, connection lost): retry later."""

    kind = "central_store_unavailable"


@dataclass(frozen=True)
class NewEnrollment:
    """An enrollment that passed every check: the store decides it under its constraints."""

    enrollment_id: str
    payload_digest: str
    kiosk_id: str
    receipt_no: str
    now: str
    campaign_id: str
    service_code: str
    cert_ref: str
    account_ref: str


@dataclass(frozen=True)
class RecordAnswer:
    """A final answer already decided (a rejection), to keep forever."""

    enrollment_id: str
    payload_digest: str
    kiosk_id: str
    receipt_no: str
    now: str
    answer: dict[str, Any]


@dataclass(frozen=True)
class NewRegistration:
    """A procedure's registration that passed its checks (central/insurer.py): one per
    procedure per card, decided under the table's key like an application."""

    enrollment_id: str
    payload_digest: str
    kiosk_id: str
    receipt_no: str
    now: str
    procedure: str
    campaign_id: str
    cert_ref: str
    points: int = 0
    points_need_application: bool = False
    already: str = "already_registered"  # the reason when this card has one already


Write = NewEnrollment | RecordAnswer | NewRegistration


class Tx(Protocol):
    def one(self, sql: str, params: tuple[Any, ...] = ()) -> tuple[Any, ...] | None: ...
    def all(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]: ...


_MYKEY_SPAN = 256 - 256 % len(MYKEY_ALPHABET)  # bytes at or above it would bias the draw
_MYKEY_TABLE = bytes(
    ord(MYKEY_ALPHABET[b % len(MYKEY_ALPHABET)]) if b < _MYKEY_SPAN else 0 for b in range(256)
)
_MYKEY_UNUSED = bytes(range(_MYKEY_SPAN, 256))


def new_mykey_id() -> str:
    """MYKEY_LENGTH characters drawn uniformly from MYKEY_ALPHABET, from one read of the
    system's random source (a ``secrets.choice`` per character was 8 reads): random
    bytes mapped to characters, the few that would bias the draw dropped."""
    chosen = b""
    while len(chosen) < MYKEY_LENGTH:
        chosen += secrets.token_bytes(2 * MYKEY_LENGTH).translate(_MYKEY_TABLE, _MYKEY_UNUSED)
    return chosen[:MYKEY_LENGTH].decode("ascii")


class Store:
    """The rules of enrollment as transactions; subclasses only move SQL."""

    backend = "abstract"

    @contextlib.contextmanager
    def transaction(self, write: bool = True) -> Iterator[Tx]:
        """One transaction; ``write=False`` for reads that must not queue behind writers."""
        raise NotImplementedError
        yield

    def close(self) -> None:
        """Close this thread's connection."""

    def read_one(self, sql: str, params: tuple[Any, ...] = ()) -> tuple[Any, ...] | None:
        """One read statement on its own (one snapshot, no BEGIN / COMMIT around it)."""
        with self.transaction(write=False) as tx:
            return tx.one(sql, params)

    def read_all(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self.transaction(write=False) as tx:
            return tx.all(sql, params)

    # -- schema --------------------------------------------------------------------
    def migrate(self) -> None:
        with self.transaction() as tx:
            self._migrate(tx)

    @staticmethod
    def _migrate(tx: Tx) -> None:
        tx.all("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        row = tx.one("SELECT max(version) FROM schema_version")
        current = row[0] if row and row[0] is not None else 0
        for version, statements in enumerate(MIGRATIONS, start=1):
            if version <= current:
                continue
            for sql in statements:
                tx.all(sql)
            tx.all("INSERT INTO schema_version (version) VALUES (?)", (version,))

    # -- enrollments ---------------------------------------------------------------
    def stored_answer(self, kiosk_id: str, enrollment_id: str) -> tuple[str, dict[str, Any]] | None:
        """(payload digest, answer) stored for this kiosk's id, if any."""
        return self.stored_answers(kiosk_id, [enrollment_id]).get(enrollment_id)

    def stored_answers(
        self, kiosk_id: str, enrollment_ids: list[str]
    ) -> dict[str, tuple[str, dict[str, Any]]]:
        """id -> (payload digest, answer) for each of this kiosk's ids that has an answer;
        one statement per 500 ids (a batch is at most 500)."""
        ids = list(dict.fromkeys(enrollment_ids))
        found: dict[str, tuple[str, dict[str, Any]]] = {}
        for at in range(0, len(ids), 500):
            chunk = ids[at : at + 500]
            placeholders = ", ".join("?" * len(chunk))  # only "?": the ids are parameters
            rows = self.read_all(
                "SELECT enrollment_id, payload_digest, answer FROM enrollments"  # noqa: S608
                f" WHERE kiosk_id = ? AND enrollment_id IN ({placeholders})",
                (kiosk_id, *chunk),
            )
            found.update((eid, (digest, json.loads(answer))) for eid, digest, answer in rows)
        return found

    def forget_answer(self, kiosk_id: str, enrollment_id: str, payload_digest: str) -> None:
        """Delete a stored answer (only a refusal for a server-side reason that an older
        version stored: such a refusal links nothing, so nothing else refers to it)."""
        with self.transaction() as tx:
            tx.all(
                "DELETE FROM enrollments WHERE kiosk_id = ? AND enrollment_id = ?"
                " AND payload_digest = ? AND status = 'rejected'",
                (kiosk_id, enrollment_id, payload_digest),
            )

    @staticmethod
    def _stored(tx: Tx, kiosk_id: str, enrollment_id: str) -> tuple[str, dict[str, Any]] | None:
        row = tx.one(
            "SELECT payload_digest, answer FROM enrollments"
            " WHERE kiosk_id = ? AND enrollment_id = ?",
            (kiosk_id, enrollment_id),
        )
        return (row[0], json.loads(row[1])) if row else None

    def precheck(
        self, campaign_id: str, cert_ref: str, account_ref: str, subjects: list[str], now: float
    ) -> tuple[dict[str, Any] | None, bool]:
        """(a rejection answer known without writing: already applied / account linked,
        whether any of ``subjects`` is locked out for wrong codes at ``now``)."""
        return self.prechecks([(campaign_id, cert_ref, account_ref, subjects)], now)[0]

    def prechecks(
        self, asks: list[tuple[str, str, str, list[str]]], now: float
    ) -> list[tuple[dict[str, Any] | None, bool]]:
        """``precheck`` for each (campaign, cert_ref, account_ref, subjects), in order.

        One statement for all, so one snapshot on both backends and one round trip: each
        account's owner, each certificate's person, their choice in the campaign and the
        lockouts are read together.
        """
        rows = [
            (n, c, cert, acct, subj[0], subj[-1]) for n, (c, cert, acct, subj) in enumerate(asks)
        ]
        values, params = _values(rows)
        found = self.read_all(
            "SELECT v.column1,"  # noqa: S608
            " (SELECT mykey_id FROM account_links WHERE account_ref = v.column4),"
            " (SELECT mykey_id FROM persons WHERE cert_ref = v.column3),"
            " (SELECT a.service_code FROM applications a"
            "  JOIN persons p ON p.mykey_id = a.mykey_id"
            "  WHERE p.cert_ref = v.column3 AND a.campaign_id = v.column2),"
            " (SELECT count(*) FROM code_failures"
            "  WHERE subject IN (v.column5, v.column6) AND locked_until > ?)"
            f" FROM (VALUES {values}) AS v",
            (now, *params),
        )
        answers: list[tuple[dict[str, Any] | None, bool]] = [(None, False)] * len(asks)
        for n, owner, mykey_id, chosen, locked in found:
            if mykey_id and chosen:
                answers[int(n)] = (_already_applied(mykey_id, chosen), bool(locked))
            elif owner and owner != mykey_id:
                rejected = {"status": "rejected", "reason": "account_already_linked"}
                answers[int(n)] = (rejected, bool(locked))
            else:
                answers[int(n)] = (None, bool(locked))
        return answers

    #: how many writes found their id answered already inside the write transaction (a
    #: resend within one batch, or another process that stored it first); issue 13
    races = 0

    def write_many(self, writes: list[Write]) -> list[tuple[str, dict[str, Any]]]:
        """Decide and store every write in one transaction (one durable commit).

        Returns the stored (payload digest, answer) per write, in order: for an id that
        already had an answer (resend, or another process first), that earlier answer.
        Writes that cannot affect each other (:func:`_independent`) are written set-wise,
        a few statements for the whole batch; the others one by one, in order.
        """
        with self.transaction() as tx:
            if len(writes) > 1 and _independent(writes):
                return self._write_set(tx, writes)
            return [self._write_one(tx, write) for write in writes]

    def _write_set(self, tx: Tx, writes: list[Write]) -> list[tuple[str, dict[str, Any]]]:
        """The same decisions as ``_write_one`` for each write in turn, in about six
        statements for the batch: the enrollments' rows, the persons, the applications,
        the account links, the answers (and a few more for conflicts)."""
        results: list[tuple[str, dict[str, Any]] | None] = [None] * len(writes)
        rows = []
        for w in writes:
            rows.append(_enrollment_row(w))
        inserted = set(
            _insert_values(
                tx,
                "enrollments (enrollment_id, payload_digest, kiosk_id, receipt_no, status,"
                " answer, answered_at)",
                rows,
                "ON CONFLICT (kiosk_id, enrollment_id) DO NOTHING"
                " RETURNING kiosk_id, enrollment_id",
            )
        )
        new: list[tuple[int, NewEnrollment]] = []
        for i, w in enumerate(writes):
            if (w.kiosk_id, w.enrollment_id) not in inserted:
                self.races += 1
                stored = self._stored(tx, w.kiosk_id, w.enrollment_id)
                assert stored is not None, "a conflicting enrollment row is visible once committed"
                results[i] = stored
            elif isinstance(w, NewEnrollment):
                new.append((i, w))
            else:
                results[i] = (w.payload_digest, w.answer)  # type: ignore[union-attr]
        if new:
            mykeys = self._persons(tx, [w for _, w in new])
            answers = self._apply_set(tx, [(w, mykeys[w.cert_ref]) for _, w in new])
            rows = [
                (w.kiosk_id, w.enrollment_id, a["status"], json.dumps(a, sort_keys=True))
                for (_, w), a in zip(new, answers, strict=True)
            ]
            values, params = _values(rows)
            tx.all(
                "UPDATE enrollments SET status = v.column3, answer = v.column4"  # noqa: S608
                f" FROM (VALUES {values}) AS v"
                " WHERE enrollments.kiosk_id = v.column1 AND enrollments.enrollment_id = v.column2",
                params,
            )
            for (i, w), answer in zip(new, answers, strict=True):
                results[i] = (w.payload_digest, answer)
        return results  # type: ignore[return-value]

    @staticmethod
    def _persons(tx: Tx, writes: list[NewEnrollment]) -> dict[str, str]:
        """cert_ref -> MyKey ID for each write's certificate, issued now if it has none."""
        wanted = {w.cert_ref: w.now for w in writes}
        found: dict[str, str] = {}
        while missing := [c for c in wanted if c not in found]:
            found.update(
                _insert_values(
                    tx,
                    "persons (cert_ref, mykey_id, created_at)",
                    [(c, new_mykey_id(), wanted[c]) for c in missing],
                    "ON CONFLICT DO NOTHING RETURNING cert_ref, mykey_id",
                )
            )
            rest = [c for c in missing if c not in found]
            if rest:
                found.update(
                    tx.all(
                        "SELECT cert_ref, mykey_id FROM persons"  # noqa: S608
                        f" WHERE cert_ref IN ({', '.join('?' * len(rest))})",
                        tuple(rest),
                    )
                )
            # a certificate still missing drew a MyKey ID another person has: draw again
        return found

    @staticmethod
    def _apply_set(tx: Tx, items: list[tuple[NewEnrollment, str]]) -> list[dict[str, Any]]:
        """``_apply`` for each (enrollment, MyKey ID), set-wise (no two share a person or
        an account: ``_independent``)."""
        applied = set(
            _insert_values(
                tx,
                "applications (campaign_id, mykey_id, service_code, kiosk_id, enrollment_id,"
                " created_at)",
                [
                    (e.campaign_id, m, e.service_code, e.kiosk_id, e.enrollment_id, e.now)
                    for e, m in items
                ],
                "ON CONFLICT DO NOTHING RETURNING kiosk_id, enrollment_id",
            )
        )
        answers: dict[int, dict[str, Any]] = {}
        linking = []
        for n, (e, m) in enumerate(items):
            if (e.kiosk_id, e.enrollment_id) in applied:
                linking.append(n)
                continue
            chosen = tx.one(
                "SELECT service_code FROM applications WHERE campaign_id = ? AND mykey_id = ?",
                (e.campaign_id, m),
            )
            answers[n] = _already_applied(m, chosen[0] if chosen else None)
        if linking:
            linked = {
                row[0]
                for row in _insert_values(
                    tx,
                    "account_links (account_ref, mykey_id, enrollment_id)",
                    [
                        (items[n][0].account_ref, items[n][1], items[n][0].enrollment_id)
                        for n in linking
                    ],
                    "ON CONFLICT DO NOTHING RETURNING account_ref",
                )
            }
            for n in linking:
                e, m = items[n]
                if e.account_ref not in linked:
                    owner = tx.one(
                        "SELECT mykey_id FROM account_links WHERE account_ref = ?", (e.account_ref,)
                    )
                    if owner is None or owner[0] != m:
                        tx.all(
                            "DELETE FROM applications WHERE kiosk_id = ? AND enrollment_id = ?",
                            (e.kiosk_id, e.enrollment_id),
                        )
                        answers[n] = {"status": "rejected", "reason": "account_already_linked"}
                        continue
                answers[n] = {"status": "accepted", "mykey_id": m, "service_code": e.service_code}
        return [answers[n] for n in range(len(items))]

    def _write_one(self, tx: Tx, w: Write) -> tuple[str, dict[str, Any]]:
        # The enrollment's row first: if the id has an answer (or another process is
        # storing one, which this waits for), nothing else is written for it.
        row = tx.one(
            "INSERT INTO enrollments (enrollment_id, payload_digest, kiosk_id, receipt_no,"
            " status, answer, answered_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (kiosk_id, enrollment_id) DO NOTHING RETURNING enrollment_id",
            _enrollment_row(w),
        )
        if row is None:
            self.races += 1
            stored = self._stored(tx, w.kiosk_id, w.enrollment_id)
            assert stored is not None, "a conflicting enrollment row is visible once committed"
            return stored
        if isinstance(w, RecordAnswer):
            return w.payload_digest, w.answer
        if isinstance(w, NewEnrollment):
            answer = self._apply(tx, w, self._person(tx, w.cert_ref, w.now))
        else:
            answer = self._register(tx, w)
        tx.all(
            "UPDATE enrollments SET status = ?, answer = ?"
            " WHERE kiosk_id = ? AND enrollment_id = ?",
            (answer["status"], json.dumps(answer, sort_keys=True), w.kiosk_id, w.enrollment_id),
        )
        return w.payload_digest, answer

    @staticmethod
    def _person(tx: Tx, cert_ref: str, now: str) -> str:
        """The MyKey ID of this certificate, issued now if it has none."""
        while True:
            row = tx.one(
                "INSERT INTO persons (cert_ref, mykey_id, created_at) VALUES (?, ?, ?)"
                " ON CONFLICT DO NOTHING RETURNING mykey_id",
                (cert_ref, new_mykey_id(), now),
            ) or tx.one("SELECT mykey_id FROM persons WHERE cert_ref = ?", (cert_ref,))
            if row:
                return row[0]
            # the random MyKey ID collided with another person's: draw again

    @staticmethod
    def _apply(tx: Tx, e: NewEnrollment, mykey_id: str) -> dict[str, Any]:
        inserted = tx.one(
            "INSERT INTO applications (campaign_id, mykey_id, service_code, kiosk_id,"
            " enrollment_id, created_at) VALUES (?, ?, ?, ?, ?, ?)"
            " ON CONFLICT DO NOTHING RETURNING mykey_id",
            (e.campaign_id, mykey_id, e.service_code, e.kiosk_id, e.enrollment_id, e.now),
        )
        if inserted is None:
            chosen = tx.one(
                "SELECT service_code FROM applications WHERE campaign_id = ? AND mykey_id = ?",
                (e.campaign_id, mykey_id),
            )
            return _already_applied(mykey_id, chosen[0] if chosen else None)
        linked = tx.one(
            "INSERT INTO account_links (account_ref, mykey_id, enrollment_id) VALUES (?, ?, ?)"
            " ON CONFLICT DO NOTHING RETURNING mykey_id",
            (e.account_ref, mykey_id, e.enrollment_id),
        )
        if linked is None:
            owner = tx.one(
                "SELECT mykey_id FROM account_links WHERE account_ref = ?", (e.account_ref,)
            )
            if owner is None or owner[0] != mykey_id:
                tx.all(
                    "DELETE FROM applications WHERE kiosk_id = ? AND enrollment_id = ?",
                    (e.kiosk_id, e.enrollment_id),
                )
                return {"status": "rejected", "reason": "account_already_linked"}
        return {"status": "accepted", "mykey_id": mykey_id, "service_code": e.service_code}

    @staticmethod
    def _register(tx: Tx, r: NewRegistration) -> dict[str, Any]:
        """Register once per procedure and card; the points need a Mynapoint application
        when the campaign says so (round 2: 7,500 points for the 健康保険証 link)."""
        points = r.points
        if points and r.points_need_application:
            applied = tx.one(
                "SELECT 1 FROM applications a JOIN persons p ON p.mykey_id = a.mykey_id"
                " WHERE p.cert_ref = ? LIMIT 1",
                (r.cert_ref,),
            )
            points = points if applied else 0
        inserted = tx.one(
            "INSERT INTO registrations (procedure, cert_ref, campaign_id, points, kiosk_id,"
            " enrollment_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT DO NOTHING RETURNING procedure",
            (r.procedure, r.cert_ref, r.campaign_id, points, r.kiosk_id, r.enrollment_id, r.now),
        )
        if inserted is None:
            return {"status": "rejected", "reason": r.already}
        answer: dict[str, Any] = {"status": "accepted", "procedure": r.procedure, "points": points}
        if r.points and not points:
            answer["points_reason"] = POINTS_NEED_APPLICATION
        return answer

    # -- wrong security codes (the lockout is read by ``precheck``) ------------------
    def code_failed(
        self, subjects: list[str], now: float, window: float, max_failures: int, lock: float
    ) -> None:
        """Count one wrong code for each subject; the ``max_failures``-th within ``window``
        seconds of the first locks that subject for ``lock`` seconds and starts a new count.
        One statement per subject, so processes on one database count together."""
        with self.transaction() as tx:
            for subject in subjects:
                tx.all(
                    "INSERT INTO code_failures (subject, failures, window_start, locked_until)"
                    " VALUES (?, 1, ?, 0) ON CONFLICT (subject) DO UPDATE SET"
                    " failures = CASE WHEN code_failures.window_start + ? <= excluded.window_start"
                    "  THEN 1 ELSE code_failures.failures + 1 END,"
                    " window_start = CASE WHEN code_failures.window_start + ?"
                    "  <= excluded.window_start THEN excluded.window_start"
                    "  ELSE code_failures.window_start END",
                    (subject, now, window, window),
                )
                tx.all(
                    "UPDATE code_failures SET locked_until = ?, failures = 0, window_start = ?"
                    " WHERE subject = ? AND failures >= ?",
                    (now + lock, now, subject, max_failures),
                )

    # -- status query --------------------------------------------------------------
    def person_status(self, cert_ref: str) -> dict[str, Any]:
        """The MyKey ID and every accepted application of the certificate's holder."""
        with self.transaction(write=False) as tx:
            registered = tx.all(
                "SELECT r.procedure, r.campaign_id, r.points, r.created_at, e.receipt_no"
                " FROM registrations r JOIN enrollments e"
                " ON e.kiosk_id = r.kiosk_id AND e.enrollment_id = r.enrollment_id"
                " WHERE r.cert_ref = ? ORDER BY r.created_at",
                (cert_ref,),
            )
            registrations = [
                {
                    "procedure": p,
                    "campaign_id": c,
                    "points": n,
                    "accepted_at": t,
                    "receipt_no": rn,
                    "done": True,
                }
                for p, c, n, t, rn in registered
            ]
            person = tx.one("SELECT mykey_id FROM persons WHERE cert_ref = ?", (cert_ref,))
            if not person:
                return {"mykey_id": None, "applications": [], "registrations": registrations}
            rows = tx.all(
                "SELECT a.campaign_id, a.service_code, a.created_at, e.receipt_no"
                " FROM applications a JOIN enrollments e"
                " ON e.kiosk_id = a.kiosk_id AND e.enrollment_id = a.enrollment_id"
                " WHERE a.mykey_id = ? ORDER BY a.created_at",
                (person[0],),
            )
        return {
            "mykey_id": person[0],
            "applications": [
                {
                    "campaign_id": c,
                    "service_code": s,
                    "accepted_at": t,
                    "receipt_no": r,
                    "done": True,
                }
                for c, s, t, r in rows
            ],
            "registrations": registrations,
        }

    def add_challenge(self, nonce: str, kiosk_id: str, expires_at: float) -> None:
        with self.transaction() as tx:
            tx.all("DELETE FROM status_challenges WHERE expires_at < ?", (time.time(),))
            tx.all(
                "INSERT INTO status_challenges (nonce, kiosk_id, expires_at) VALUES (?, ?, ?)",
                (nonce, kiosk_id, expires_at),
            )

    def take_challenge(self, nonce: str, kiosk_id: str, now: float) -> bool:
        """True once for a live challenge issued to this kiosk; it is used up either way."""
        with self.transaction() as tx:
            row = tx.one(
                "DELETE FROM status_challenges WHERE nonce = ? RETURNING kiosk_id, expires_at",
                (nonce,),
            )
        return bool(row) and row[0] == kiosk_id and row[1] >= now

    # -- kiosks --------------------------------------------------------------------
    def heartbeat(self, kiosk_id: str, health: dict[str, Any], now: float) -> None:
        with self.transaction() as tx:
            tx.all(
                "INSERT INTO kiosks (kiosk_id, last_seen, health) VALUES (?, ?, ?)"
                " ON CONFLICT (kiosk_id) DO UPDATE SET last_seen = excluded.last_seen,"
                " health = excluded.health",
                (kiosk_id, now, json.dumps(health, sort_keys=True)),
            )

    def kiosks(self) -> list[tuple[str, float, dict[str, Any]]]:
        with self.transaction(write=False) as tx:
            rows = tx.all("SELECT kiosk_id, last_seen, health FROM kiosks ORDER BY kiosk_id")
        return [(k, float(t), json.loads(h)) for k, t, h in rows]


def _independent(writes: list[Write]) -> bool:
    """True when no two writes name the same enrollment id, person or payment account and
    none is a registration (which reads applications): then no write's decision depends
    on another's, and their order within the batch cannot change an answer."""
    ids: set[tuple[str, str]] = set()
    certs: set[str] = set()
    accounts: set[str] = set()
    for w in writes:
        if isinstance(w, NewRegistration) or (w.kiosk_id, w.enrollment_id) in ids:
            return False
        ids.add((w.kiosk_id, w.enrollment_id))
        if isinstance(w, NewEnrollment):
            if w.cert_ref in certs or w.account_ref in accounts:
                return False
            certs.add(w.cert_ref)
            accounts.add(w.account_ref)
    return True


def _values(rows: list[tuple[Any, ...]]) -> tuple[str, tuple[Any, ...]]:
    """``(?, ?), (?, ?)`` for the rows, and their parameters in one tuple."""
    one = "(" + ", ".join("?" * len(rows[0])) + ")"
    return ", ".join([one] * len(rows)), tuple(itertools.chain.from_iterable(rows))


def _insert_values(
    tx: Tx, table: str, rows: list[tuple[Any, ...]], tail: str
) -> list[tuple[Any, ...]]:
    """``INSERT INTO table VALUES rows... tail``: one statement for every row."""
    values, params = _values(rows)
    return tx.all(f"INSERT INTO {table} VALUES {values} {tail}", params)  # noqa: S608


def _already_applied(mykey_id: str, service_code: str | None) -> dict[str, Any]:
    return {
        "status": "rejected",
        "reason": "already_applied",
        "mykey_id": mykey_id,
        "service_code": service_code,
    }


# -- SQLite ----------------------------------------------------------------------------
class _SqliteTx:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def one(self, sql: str, params: tuple[Any, ...] = ()) -> tuple[Any, ...] | None:
        cur = self._conn.execute(sql, params)
        row = cur.fetchone()
        cur.fetchall()
        return row

    def all(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        return self._conn.execute(sql, params).fetchall()


class SqliteStore(Store):
    """One SQLite file in WAL mode with synchronous=FULL; a connection per thread."""

    backend = "sqlite"

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        path.parent.mkdir(parents=True, exist_ok=True)

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(
                self.path, isolation_level=None, timeout=30, check_same_thread=False
            )
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA foreign_keys=ON")
            self._local.conn = conn
        return conn

    def read_all(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        try:  # autocommit: one statement is one snapshot
            return self._conn().execute(sql, params).fetchall()
        except sqlite3.OperationalError as exc:
            raise StoreUnavailable(f"sqlite: {exc}") from exc

    def read_one(self, sql: str, params: tuple[Any, ...] = ()) -> tuple[Any, ...] | None:
        rows = self.read_all(sql, params)
        return rows[0] if rows else None

    @contextlib.contextmanager
    def transaction(self, write: bool = True) -> Iterator[Tx]:
        conn = self._conn()
        try:
            conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
        except sqlite3.OperationalError as exc:
            raise StoreUnavailable(f"sqlite: {exc}") from exc
        try:
            yield _SqliteTx(conn)
        except BaseException as exc:
            with contextlib.suppress(sqlite3.Error):  # SQLite may have rolled back already
                conn.execute("ROLLBACK")
            if isinstance(exc, sqlite3.OperationalError):  # locked, disk I/O, full
                raise StoreUnavailable(f"sqlite: {exc}") from exc
            raise
        try:
            conn.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            raise StoreUnavailable(f"sqlite: {exc}") from exc

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


# -- PostgreSQL ------------------------------------------------------------------------
class _PgTx:
    def __init__(self, conn: Any) -> None:
        self._conn = conn

    def one(self, sql: str, params: tuple[Any, ...] = ()) -> tuple[Any, ...] | None:
        cur = self._conn.execute(sql.replace("?", "%s"), params)
        return cur.fetchone() if cur.description else None

    def all(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        cur = self._conn.execute(sql.replace("?", "%s"), params)
        return cur.fetchall() if cur.description else []


class PostgresStore(Store):
    """PostgreSQL through psycopg 3; a connection per thread, READ COMMITTED."""

    backend = "postgresql"
    _RETRIES = 5

    def __init__(self, dsn: str) -> None:
        import psycopg  # only needed when a DSN is configured

        self._psycopg = psycopg
        self.dsn = dsn
        self._local = threading.local()

    def _conn(self) -> Any:
        conn = getattr(self._local, "conn", None)
        if conn is None or conn.closed or conn.broken:
            try:
                conn = self._psycopg.connect(self.dsn, autocommit=True, connect_timeout=10)
            except self._psycopg.OperationalError as exc:
                raise StoreUnavailable(f"postgresql: {exc.__class__.__name__}") from exc
            self._local.conn = conn
        return conn

    @contextlib.contextmanager
    def transaction(self, write: bool = True) -> Iterator[Tx]:
        conn = self._conn()
        try:
            if write:
                with conn.transaction():
                    yield _PgTx(conn)
            else:  # autocommit: each read statement is its own snapshot, one round trip
                yield _PgTx(conn)
        except (
            self._psycopg.errors.DeadlockDetected,
            self._psycopg.errors.SerializationFailure,
        ) as exc:
            raise StoreUnavailable(f"postgresql: {exc.__class__.__name__}") from exc
        except self._psycopg.OperationalError as exc:
            self.close()
            raise StoreUnavailable(f"postgresql: {exc.__class__.__name__}") from exc

    def migrate(self) -> None:
        # Two processes starting together must not both create the schema.
        with self.transaction() as tx:
            tx.all("SELECT pg_advisory_xact_lock(7262611)")
            self._migrate(tx)

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()
            self._local.conn = None


def open_store(database: Path | None, dsn: str | None) -> Store:
    """PostgreSQL when a DSN is given, else the SQLite file; schema migrated."""
    store: Store = PostgresStore(dsn) if dsn else SqliteStore(database or Path("central.sqlite3"))
    store.migrate()
    return store


def _enrollment_row(w: Write) -> tuple[Any, ...]:
    """An enrollment's row: a stored answer, or "deciding" until its decision, written in
    the same transaction, replaces it (the set-wise and the one-by-one writes alike)."""
    answer = w.answer if isinstance(w, RecordAnswer) else {}
    return (
        w.enrollment_id,
        w.payload_digest,
        w.kiosk_id,
        w.receipt_no,
        answer.get("status", "deciding"),
        json.dumps(answer, sort_keys=True),
        w.now,
    )
