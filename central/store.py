"""Storage of the central service: SQLite (default, WAL) or PostgreSQL (several processes).

The rules that must hold across processes are database constraints, not code:

- ``enrollments`` has the key (kiosk_id, enrollment_id): one answer per enrollment of a
  kiosk, forever; an id is the kiosk's own, so another kiosk cannot take or probe it.
- ``persons.cert_ref`` is unique: one MyKey ID per certificate (issuer + serial).
- ``applications`` has the key (campaign_id, mykey_id): one service per person per campaign.
- ``account_links.account_ref`` is the key: one person per payment account.

Writes use ``INSERT ... ON CONFLICT DO NOTHING RETURNING`` so that two processes racing
for the same person or account wait for each other and exactly one wins. Nothing here
holds an ID, a code or a certificate: only keyed hashes (``cert_ref``, ``account_ref``).
"""

from __future__ import annotations

import contextlib
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


class _Race(Exception):
    """Another process stored this enrollment id first: roll back and read its answer."""


class Tx(Protocol):
    def one(self, sql: str, params: tuple[Any, ...] = ()) -> tuple[Any, ...] | None: ...
    def all(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]: ...


def new_mykey_id() -> str:
    return "".join(secrets.choice(MYKEY_ALPHABET) for _ in range(MYKEY_LENGTH))


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
        with self.transaction(write=False) as tx:
            return self._stored(tx, kiosk_id, enrollment_id)

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

    def precheck(self, campaign_id: str, cert_ref: str, account_ref: str) -> dict[str, Any] | None:
        """A rejection answer known without writing (already applied / account linked).

        One statement, so one snapshot on both backends: the account's owner, this
        certificate's person and their choice in this campaign are read together.
        """
        with self.transaction(write=False) as tx:
            row = tx.one(
                "SELECT (SELECT mykey_id FROM account_links WHERE account_ref = ?),"
                " (SELECT mykey_id FROM persons WHERE cert_ref = ?),"
                " (SELECT a.service_code FROM applications a"
                "  JOIN persons p ON p.mykey_id = a.mykey_id"
                "  WHERE p.cert_ref = ? AND a.campaign_id = ?)",
                (account_ref, cert_ref, cert_ref, campaign_id),
            )
        owner, mykey_id, chosen = row if row else (None, None, None)
        if mykey_id and chosen:
            return _already_applied(mykey_id, chosen)
        if owner and owner != mykey_id:
            return {"status": "rejected", "reason": "account_already_linked"}
        return None

    def write_many(self, writes: list[Write]) -> list[tuple[str, dict[str, Any]]]:
        """Decide and store every write in one transaction, each under a savepoint.

        Returns the stored (payload digest, answer) per write, in order: for an id that
        already had an answer (resend, or another process first), that earlier answer.
        """
        results: list[tuple[str, dict[str, Any]] | None] = [None] * len(writes)
        raced: list[int] = []
        with self.transaction() as tx:
            for i, write in enumerate(writes):
                tx.all("SAVEPOINT item")
                try:
                    results[i] = self._write_one(tx, write)
                except _Race:
                    tx.all("ROLLBACK TO SAVEPOINT item")
                    raced.append(i)
                tx.all("RELEASE SAVEPOINT item")
        for i in raced:
            results[i] = self.stored_answer(writes[i].kiosk_id, writes[i].enrollment_id)
        assert all(r is not None for r in results)
        return results  # type: ignore[return-value]

    def _write_one(self, tx: Tx, w: Write) -> tuple[str, dict[str, Any]]:
        stored = self._stored(tx, w.kiosk_id, w.enrollment_id)
        if stored:
            return stored
        if isinstance(w, NewEnrollment):
            answer = self._apply(tx, w, self._person(tx, w.cert_ref, w.now))
        elif isinstance(w, NewRegistration):
            answer = self._register(tx, w)
        else:
            answer = w.answer
        row = tx.one(
            "INSERT INTO enrollments (enrollment_id, payload_digest, kiosk_id, receipt_no,"
            " status, answer, answered_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (kiosk_id, enrollment_id) DO NOTHING RETURNING enrollment_id",
            (
                w.enrollment_id,
                w.payload_digest,
                w.kiosk_id,
                w.receipt_no,
                answer["status"],
                json.dumps(answer, sort_keys=True),
                w.now,
            ),
        )
        if row is None:  # another process stored this id since we looked
            raise _Race
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
            answer["points_reason"] = "needs_mynapoint_application"
        return answer

    # -- wrong security codes ------------------------------------------------------
    def code_locked(self, subjects: list[str], now: float) -> bool:
        """True while any subject (an account_ref or cert_ref, prefixed) is locked out."""
        with self.transaction(write=False) as tx:
            row = tx.one(
                "SELECT count(*) FROM code_failures WHERE subject IN (?, ?) AND locked_until > ?",
                (subjects[0], subjects[-1], now),
            )
        return bool(row and row[0])

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
