"""The sync worker's side of the outbox: claim due rows, record answers, retention.

Every change is one short write transaction, so the kiosk's enqueue never waits
long, and a ``kill -9`` at any moment leaves either the old or the new state.

The ledger's commits do not wait for the disk (``synchronous=NORMAL``; retention's
deletions do): a power cut may undo the last claims and answers, never corrupt them (WAL
keeps commits in order, and the kiosk's next durable commit takes them to the disk too).
Undoing one is harmless: a claim undone leaves its row pending, due as well; an answer
undone leaves its row open with its sealed data, so it is sent again and the central
service answers from its record (durability invariant 2). Waiting for the disk twice
per batch had cost the worker more than everything else it does per item. A
row claimed for sending stays in ``sending`` until its answer is recorded; a
crash leaves it there, still due, and the next claim sends it again (the central
service answers a resent enrollment id with its stored answer).

The rules it applies (backoff, Retry-After cap, strikes until dead, a clock set back)
are :mod:`offline_queue.policy`'s. Its times come from ``clock`` (``time.time``), which
tests replace to move time forward instead of sleeping.
"""

from __future__ import annotations

import collections
import json
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import sqlite_utils

from contract.wire import ACCEPTED, CONFLICT, REJECTED, RETRY, SERVER_SIDE_REASONS, outer_item
from offline_queue import policy
from offline_queue.db import durable_commits, open_queue_db, write_transaction
from offline_queue.policy import Backoff
from offline_queue.store import (
    DELIVERED,
    FAILED,
    QueueStatus,
    queue_status,
    read_sync_state,
)


@dataclass(frozen=True)
class OutboundItem:
    enrollment_id: str
    kiosk_id: str
    receipt_no: str
    created_at: str
    key_id: str
    sealed: bytes
    attempts: int

    def wire(self) -> dict:
        return outer_item(
            enrollment_id=self.enrollment_id,
            kiosk_id=self.kiosk_id,
            receipt_no=self.receipt_no,
            created_at=self.created_at,
            key_id=self.key_id,
            sealed=self.sealed,
        )


#: Due: an open row whose time has come, or one due further ahead than any delay we ever
#: set (the clock was set back). Four ranges of ``enrollments_due_order`` (each state,
#: ``<=`` due by / ``>`` beyond the longest delay), each read in claim order without a
#: sort and cut to the limit (parameters: state, bound, limit), then merged: a claim
#: reads about ``limit`` rows, however long the backlog. Written out whole, one literal.
_CLAIM = """
    SELECT e.enrollment_id, e.kiosk_id, e.receipt_no, e.created_at, e.key_id, e.sealed,
           e.attempts
    FROM (
        SELECT * FROM (SELECT rowid AS r, next_attempt_at AS n, enqueued_at AS q
            FROM enrollments WHERE state = ? AND next_attempt_at <= ?
            ORDER BY next_attempt_at, enqueued_at LIMIT ?)
        UNION ALL
        SELECT * FROM (SELECT rowid AS r, next_attempt_at AS n, enqueued_at AS q
            FROM enrollments WHERE state = ? AND next_attempt_at <= ?
            ORDER BY next_attempt_at, enqueued_at LIMIT ?)
        UNION ALL
        SELECT * FROM (SELECT rowid AS r, next_attempt_at AS n, enqueued_at AS q
            FROM enrollments WHERE state = ? AND next_attempt_at > ?
            ORDER BY next_attempt_at, enqueued_at LIMIT ?)
        UNION ALL
        SELECT * FROM (SELECT rowid AS r, next_attempt_at AS n, enqueued_at AS q
            FROM enrollments WHERE state = ? AND next_attempt_at > ?
            ORDER BY next_attempt_at, enqueued_at LIMIT ?)
        ORDER BY n, q LIMIT ?
    ) AS d JOIN enrollments AS e ON e.rowid = d.r
    ORDER BY d.n, d.q
"""


class DeliveryLedger:
    """Database operations of the sync worker (a separate process from the kiosk)."""

    def __init__(
        self,
        path: str | Path,
        *,
        backoff: Backoff | None = None,
        max_permanent_failures: int = policy.MAX_PERMANENT_FAILURES,
        busy_timeout_s: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = Path(path)
        self.backoff = backoff or Backoff()
        self.max_permanent_failures = max_permanent_failures
        self.clock = clock
        # NORMAL: the ledger's commits do not wait for the disk (module docstring)
        self._db: sqlite_utils.Database = open_queue_db(
            self.path, synchronous="NORMAL", busy_timeout_s=busy_timeout_s
        )

    def close(self) -> None:
        self._db.close()

    # -- claiming -------------------------------------------------------------------------

    def claim_due(
        self, limit: int, now: float | None = None, due_by: float | None = None
    ) -> list[OutboundItem]:
        """Mark up to ``limit`` rows due by ``due_by`` (default now) as sending, oldest first.

        A pass passes its start time as ``due_by``, so a row it put back with a short
        backoff is not sent again in the same pass. A row due further ahead than any delay
        we ever set means the clock was set back (no NTP at boot): it is due now.
        """
        now = self.clock() if now is None else now
        due_by = now if due_by is None else due_by
        with write_transaction(self._db) as db:
            rows = db.execute(
                _CLAIM,
                [
                    *(v for state in policy.OPEN_STATES for v in (state, due_by, limit)),
                    *(v for state in policy.OPEN_STATES
                      for v in (state, now + policy.MAX_DELAY_S, limit)),
                    limit,
                ],
            ).fetchall()
            items = [OutboundItem(*row[:6], attempts=row[6] + 1) for row in rows]
            db.conn.executemany(
                "UPDATE enrollments SET state = ?, attempts = attempts + 1, last_attempt_at = ?"
                " WHERE enrollment_id = ?",
                [(policy.SENDING, now, item.enrollment_id) for item in items],
            )
        return items

    def next_due_at(self) -> float | None:
        """When the earliest open row becomes due (None when nothing is open)."""
        due = self._db.execute(
            "SELECT min(next_attempt_at) FROM enrollments WHERE state IN (?, ?)",
            policy.OPEN_STATES,
        ).fetchone()[0]
        now = self.clock()
        return now if due is not None and policy.clock_was_set_back(due, now) else due

    # -- recording answers ----------------------------------------------------------------

    def record_results(
        self, items: list[OutboundItem], results: dict[str, dict], now: float | None = None
    ) -> None:
        """Apply the central answer for each item (missing answers count as retry)."""
        now = self.clock() if now is None else now
        with write_transaction(self._db) as db:
            tally: collections.Counter[str] = collections.Counter()
            for item in items:
                tally[self._apply_result(db, item, results.get(item.enrollment_id), now)] += 1
            self._note_success(db, now)
            self._add_counts(db, tally)

    def record_transport_failure(
        self,
        items: Iterable[OutboundItem],
        error_kind: str,
        retry_after_s: float | None = None,
        now: float | None = None,
        *,
        counted: bool = True,
    ) -> None:
        """No answer at all: every item goes back to pending with its own backoff.

        The failed request is counted (``counted=False``: items behind a request that
        failed and was counted already)."""
        now = self.clock() if now is None else now
        with write_transaction(self._db) as db:
            for item in items:
                self._back_to_pending(db, item, error_kind, now, retry_after_s)
            self._note_error(db, error_kind, now)
            if counted:
                self._add_counts(db, {FAILED + error_kind: 1})
            if retry_after_s is not None:
                not_before = now + policy.capped_retry_after(retry_after_s)
                self._set_state(db, "not_before", not_before)

    def record_request_refused(
        self, items: list[OutboundItem], error_kind: str, now: float | None = None
    ) -> None:
        """The central service refused the request itself (4xx): one strike per item."""
        now = self.clock() if now is None else now
        with write_transaction(self._db) as db:
            for item in items:
                self._strike(db, item, error_kind, now)
            self._note_error(db, error_kind, now)
            self._add_counts(db, {FAILED + error_kind: 1})

    def count_failed_request(self, error_kind: str) -> None:
        """Count a failed request that changes no row (a batch refused, then split)."""
        with write_transaction(self._db) as db:
            self._add_counts(db, {FAILED + error_kind: 1})

    def status(self) -> QueueStatus:
        return queue_status(self._db)

    def not_before(self) -> float | None:
        """Until when a Retry-After holds every send (None when none, or the clock went back)."""
        value = read_sync_state(self._db.conn).get("not_before")
        if value is None or policy.clock_was_set_back(value, self.clock()):
            return None
        return value

    # -- retention ------------------------------------------------------------------------

    def apply_retention(self, now: float | None = None) -> int:
        """Wipe sealed data and delete rows past their retention; returns rows deleted."""
        now = self.clock() if now is None else now
        with durable_commits(self._db), write_transaction(self._db) as db:
            # A row refused for a server-side reason keeps its seal after it was shown, until
            # the hold ends, so staff can resend it once the operator fixed the set-up.
            db.execute(
                "UPDATE enrollments SET sealed = NULL WHERE sealed IS NOT NULL"
                " AND state IN (?, ?) AND ((shown_at IS NOT NULL AND NOT (state = ? AND reason"
                " IN (SELECT value FROM json_each(?)))) OR answered_at < ?)",
                [
                    policy.REJECTED,
                    policy.DEAD,
                    policy.REJECTED,
                    json.dumps(SERVER_SIDE_REASONS),
                    now - policy.SEALED_HOLD_AFTER_ANSWER_S,
                ],
            )
            cursor = db.execute(
                "DELETE FROM enrollments WHERE state IN (?, ?, ?) AND answered_at < ?",
                [*policy.FINAL_STATES, now - policy.ROW_RETENTION_AFTER_ANSWER_S],
            )
            return cursor.rowcount

    # -- internals ------------------------------------------------------------------------

    def _apply_result(
        self, db: sqlite_utils.Database, item: OutboundItem, result: dict | None, now: float
    ) -> str:
        """Record one item's answer; returns the counter it adds to (``SYNC_COUNTERS``)."""
        answer = result or {}
        status = answer.get("status")
        if status == ACCEPTED:
            self._settle(db, item, policy.ACCEPTED, now, answer, wipe_sealed=True)
            return DELIVERED + policy.ACCEPTED
        if status == REJECTED:
            self._settle(db, item, policy.REJECTED, now, answer)
            return DELIVERED + policy.REJECTED
        if status == CONFLICT:
            self._settle(db, item, policy.DEAD, now, {}, error_kind=policy.ERROR_CONFLICT)
            return FAILED + policy.ERROR_CONFLICT
        if status == RETRY or result is None:
            kind = policy.ERROR_ITEM_RETRY if result else policy.ERROR_BAD_ANSWER
            self._back_to_pending(db, item, kind, now, _seconds(answer, "retry_after"))
            return FAILED + kind
        self._strike(db, item, policy.ERROR_BAD_ANSWER, now)
        return FAILED + policy.ERROR_BAD_ANSWER

    def _settle(
        self,
        db: sqlite_utils.Database,
        item: OutboundItem,
        state: str,
        now: float,
        answer: dict,
        *,
        error_kind: str | None = None,
        wipe_sealed: bool = False,
    ) -> None:
        """Record a final state. Only an open row settles: an answer is never rewritten."""
        reason = answer.get("reason")
        points = answer.get("points")
        if not isinstance(points, int) or isinstance(points, bool) or points < 0:
            points = None  # not said, or not a count: nothing is shown for it
        db.execute(
            "UPDATE enrollments SET state = ?, mykey_id = ?, service_code = ?, reason = ?,"
            " points = ?, points_reason = ?, last_error_kind = ?, answered_at = ?,"
            " sealed = CASE WHEN ? THEN NULL ELSE sealed END"
            " WHERE enrollment_id = ? AND state IN (?, ?)",
            [
                state,
                _text(answer.get("mykey_id")),
                _text(answer.get("service_code")),
                None if reason is None else str(reason),
                points,
                _text(answer.get("points_reason")),
                error_kind,
                now,
                wipe_sealed,
                item.enrollment_id,
                *policy.OPEN_STATES,
            ],
        )

    def _back_to_pending(
        self,
        db: sqlite_utils.Database,
        item: OutboundItem,
        error_kind: str,
        now: float,
        retry_after_s: float | None,
    ) -> None:
        delay = self.backoff.delay(item.attempts, retry_after_s)
        db.execute(
            "UPDATE enrollments SET state = ?, next_attempt_at = ?, last_error_kind = ?"
            " WHERE enrollment_id = ? AND state IN (?, ?)",
            [policy.PENDING, now + delay, error_kind, item.enrollment_id, *policy.OPEN_STATES],
        )

    def _strike(
        self, db: sqlite_utils.Database, item: OutboundItem, error_kind: str, now: float
    ) -> None:
        """A failure no resend of this same request can fix; enough of them and it goes dead."""
        db.execute(
            "UPDATE enrollments SET strikes = strikes + 1"
            " WHERE enrollment_id = ? AND state IN (?, ?)",
            [item.enrollment_id, *policy.OPEN_STATES],
        )
        strikes = db.execute(
            "SELECT strikes FROM enrollments WHERE enrollment_id = ?", [item.enrollment_id]
        ).fetchone()
        if strikes is not None and policy.struck_out(strikes[0], self.max_permanent_failures):
            self._settle(db, item, policy.DEAD, now, {}, error_kind=error_kind)
        else:
            self._back_to_pending(db, item, error_kind, now, None)

    def _note_success(self, db: sqlite_utils.Database, now: float) -> None:
        """The central service answered: rows parked by network trouble are due again now."""
        self._set_state(db, "last_success_at", now)
        self._set_state(db, "not_before", None)
        db.execute(
            "UPDATE enrollments SET next_attempt_at = ? WHERE state IN (?, ?)"
            " AND next_attempt_at > ? AND last_error_kind IN (SELECT value FROM json_each(?))",
            [now, *policy.OPEN_STATES, now, json.dumps(policy.TRANSPORT_ERRORS)],
        )

    def _note_error(self, db: sqlite_utils.Database, error_kind: str, now: float) -> None:
        self._set_state(db, "last_error_kind", error_kind)
        self._set_state(db, "last_error_at", now)

    @staticmethod
    def _add_counts(db: sqlite_utils.Database, counts: Mapping[str, int]) -> None:
        db.conn.executemany(
            "INSERT INTO sync_state (name, value) VALUES (?, ?)"
            " ON CONFLICT (name) DO UPDATE SET value = value + excluded.value",
            [(name, n) for name, n in counts.items() if n],
        )

    @staticmethod
    def _set_state(db: sqlite_utils.Database, name: str, value: object) -> None:
        db.execute(
            "INSERT INTO sync_state (name, value) VALUES (?, ?)"
            " ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            [name, value],
        )


def _seconds(result: dict | None, key: str) -> float | None:
    try:
        return max(0.0, float((result or {})[key]))
    except (KeyError, TypeError, ValueError):
        return None


def _text(value: object) -> str | None:
    return None if value is None else str(value)[:64]
