"""Opening the queue database the one safe way, and write transactions.

Every connection gets WAL, ``synchronous=FULL`` (a commit is on the disk before it
returns; the sync worker's ledger alone opens ``NORMAL``, see ``offline_queue/delivery.py``),
a busy timeout (two processes share the file) and ``secure_delete`` (wiped sealed blobs
are zeroed, not left in free pages).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

import sqlite_utils

from offline_queue.errors import QueueDiskFull, QueueUnavailable
from offline_queue.schema import migrate

_SQLITE_FULL = 13
#: Primary SQLite result codes that mean "the queue cannot be used now" (staff must look).
_UNAVAILABLE = {
    5: "stayed locked past the busy timeout",  # SQLITE_BUSY
    8: "is read-only",  # SQLITE_READONLY
    10: "had an I/O error",  # SQLITE_IOERR
    11: "is damaged",  # SQLITE_CORRUPT
    14: "cannot be opened (missing directory or permissions)",  # SQLITE_CANTOPEN
    23: "is not accessible (permissions)",  # SQLITE_AUTH
    26: "is not an SQLite database",  # SQLITE_NOTADB
}
_SQLITE_BUSY = 5
#: How long to wait before opening a database again that another process was setting up.
_BUSY_RETRY_S = 0.01
#: NORMAL (a commit does not wait for the disk) is for the sync worker's ledger, whose
#: writes a power cut may undo (offline_queue/delivery.py), and for the benchmark.
_SYNCHRONOUS_MODES = ("FULL", "NORMAL")


def open_queue_db(
    path: str | Path,
    *,
    synchronous: str = "FULL",
    busy_timeout_s: float = 5.0,
    max_size_bytes: int | None = None,
) -> sqlite_utils.Database:
    """Open (creating and migrating if needed) the queue database at ``path``."""
    if synchronous not in _SYNCHRONOUS_MODES:
        raise ValueError(f"synchronous must be one of {_SYNCHRONOUS_MODES}")
    _create_group_writable(path)
    deadline = time.monotonic() + busy_timeout_s
    while True:
        conn = None
        try:
            conn = sqlite3.connect(
                str(path), timeout=busy_timeout_s, isolation_level=None, check_same_thread=False
            )
            db = sqlite_utils.Database(conn)
            db.enable_wal()
            conn.execute(f"PRAGMA synchronous = {synchronous}")
            conn.execute("PRAGMA secure_delete = ON")
            conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
            if max_size_bytes is not None:
                page_size = conn.execute("PRAGMA page_size").fetchone()[0]
                conn.execute(f"PRAGMA max_page_count = {max(1, max_size_bytes // page_size)}")
            migrate(conn)
            return db
        except sqlite3.Error as error:
            if conn is not None:
                conn.close()
            # Two processes opening a new database at once (the kiosk and the sync worker
            # at first boot): switching it to WAL can fail with SQLITE_BUSY at once, without
            # the busy handler, while the other one holds its lock. Open again until the
            # busy timeout, as the busy handler would have waited.
            busy = (getattr(error, "sqlite_errorcode", 0) or 0) & 0xFF == _SQLITE_BUSY
            if not busy or time.monotonic() >= deadline:
                _raise_typed(error)
            time.sleep(_BUSY_RETRY_S)


def _create_group_writable(path: str | Path) -> None:
    """Create a missing database file 0660: the kiosk and sync users share it by group.

    SQLite itself creates files 0644 whatever the umask, and gives -wal/-shm the
    database file's mode, so a database recreated at run time by the kiosk user
    would otherwise be read-only to the sync user.
    """
    if str(path) == ":memory:" or Path(path).exists():
        return
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o660)
    except FileExistsError:
        return
    except OSError as error:
        raise QueueUnavailable(f"queue database cannot be created: {error.strerror}") from None
    try:
        os.fchmod(fd, 0o660)
    finally:
        os.close(fd)


def translate(error: sqlite3.Error) -> Exception:
    """The typed queue error for an SQLite failure (or the error itself if unknown)."""
    code = getattr(error, "sqlite_errorcode", None)
    if code is None:
        return error
    if code & 0xFF == _SQLITE_FULL:
        return QueueDiskFull("queue database or disk is full; the enrollment was not stored")
    reason = _UNAVAILABLE.get(code & 0xFF)
    if reason is not None:
        return QueueUnavailable(f"queue database {reason}")
    return error


def _raise_typed(error: sqlite3.Error) -> NoReturn:
    typed = translate(error)
    if typed is error:
        raise error
    raise typed from error


@contextlib.contextmanager
def write_transaction(db: sqlite_utils.Database) -> Iterator[sqlite_utils.Database]:
    """BEGIN IMMEDIATE ... COMMIT; any failure rolls back and nothing is half-written."""
    conn = db.conn
    try:
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.Error as error:
        _raise_typed(error)
    try:
        yield db
        conn.execute("COMMIT")
    except sqlite3.Error as error:
        _rollback(conn)
        _raise_typed(error)
    except BaseException:
        _rollback(conn)
        raise


@contextlib.contextmanager
def durable_commits(db: sqlite_utils.Database) -> Iterator[sqlite_utils.Database]:
    """``synchronous=FULL`` for the commits inside, on a connection opened ``NORMAL``."""
    db.conn.execute("PRAGMA synchronous = FULL")
    try:
        yield db
    finally:
        db.conn.execute("PRAGMA synchronous = NORMAL")


def _rollback(conn: sqlite3.Connection) -> None:
    if conn.in_transaction:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")
