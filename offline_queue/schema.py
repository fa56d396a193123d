"""Versioned schema of the queue database, tracked in ``PRAGMA user_version``.

Each migration is a list of statements applied in one transaction together with
the new ``user_version``, so a crash mid-migration leaves the old version intact.
Never edit a released migration; append a new one.
"""

from __future__ import annotations

import sqlite3

from offline_queue.errors import QueueUnavailable
from offline_queue.policy import FINAL_STATES, STATES


def _quoted(values: tuple[str, ...]) -> str:
    return ", ".join(f"'{v}'" for v in values)


MIGRATIONS: list[list[str]] = [
    # 1: the outbox and the worker's small key/value state.
    [
        f"""
        CREATE TABLE enrollments (
            enrollment_id   TEXT PRIMARY KEY,
            receipt_no      TEXT NOT NULL UNIQUE,
            kiosk_id        TEXT NOT NULL,
            created_at      TEXT NOT NULL,
            enqueued_at     REAL NOT NULL,
            key_id          TEXT NOT NULL,
            sealed          BLOB,
            card_guard      BLOB NOT NULL,
            state           TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ({_quoted(STATES)})),
            attempts        INTEGER NOT NULL DEFAULT 0,
            strikes         INTEGER NOT NULL DEFAULT 0,
            next_attempt_at REAL NOT NULL,
            last_attempt_at REAL,
            last_error_kind TEXT,
            mykey_id        TEXT,
            service_code    TEXT,
            reason          TEXT,
            answered_at     REAL,
            shown_at        REAL,
            CHECK (sealed IS NOT NULL OR state IN ({_quoted(FINAL_STATES)}))
        )
        """,
        "CREATE INDEX enrollments_due ON enrollments (state, next_attempt_at)",
        "CREATE INDEX enrollments_card_guard ON enrollments (card_guard)",
        "CREATE INDEX enrollments_answered ON enrollments (answered_at)",
        "CREATE TABLE sync_state (name TEXT PRIMARY KEY, value)",
    ],
    # 2: which procedure a row is (issue 11): '' the Mynapoint application, else the
    # payload's ``procedure`` (健康保険証の利用申込み...), for per-procedure counts. Not personal.
    [
        "ALTER TABLE enrollments ADD COLUMN procedure TEXT NOT NULL DEFAULT ''",
    ],
    # 3: the points central granted with an accepted procedure (NULL: not said), and why
    # none were ('needs_mynapoint_application'), for the result screen and the receipt.
    [
        "ALTER TABLE enrollments ADD COLUMN points INTEGER",
        "ALTER TABLE enrollments ADD COLUMN points_reason TEXT",
        # the sync worker's claim reads the due rows in this order straight from the
        # index (it sorted every due row, sealed blobs and all, on each claim: a backlog
        # of 1,000 made each claim read 4 MB)
        "CREATE INDEX enrollments_due_order ON enrollments (state, next_attempt_at, enqueued_at)",
        "DROP INDEX enrollments_due",
    ],
]
SCHEMA_VERSION = len(MIGRATIONS)


def schema_version(conn: sqlite3.Connection) -> int:
    return conn.execute("PRAGMA user_version").fetchone()[0]


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the database up to SCHEMA_VERSION; safe to run from several processes."""
    if schema_version(conn) > SCHEMA_VERSION:
        raise QueueUnavailable(
            f"queue schema {schema_version(conn)} is newer than this software ({SCHEMA_VERSION})"
        )
    while schema_version(conn) < SCHEMA_VERSION:
        conn.execute("BEGIN IMMEDIATE")
        try:
            version = schema_version(conn)  # re-read under the write lock
            if version < SCHEMA_VERSION:
                for statement in MIGRATIONS[version]:
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {version + 1}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return SCHEMA_VERSION
