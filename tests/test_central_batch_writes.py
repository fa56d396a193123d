"""A batch's writes stored set-wise give the answers they get one by one (issue 13).

``Store.write_many`` writes a batch whose items cannot affect each other in a few
statements for the whole batch; these tests hold it to the one-by-one path on the same
database state: earlier answers, a person who applied before, an account linked to
someone else, an id answered already, a refusal to keep. SQLite in process (fast); the
same code runs on PostgreSQL in tests/test_central_workers.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from central.freshness import one_look
from central.reference_file import ReferenceFile
from central.store import NewEnrollment, RecordAnswer, SqliteStore, Write, _independent

NOW = "2026-12-02T07:00:00Z"


def enrollment(eid: str, cert: str, account: str, campaign: str = "C1") -> NewEnrollment:
    return NewEnrollment(
        enrollment_id=eid,
        payload_digest="d-" + eid,
        kiosk_id="K-1",
        receipt_no="R-" + eid,
        now=NOW,
        campaign_id=campaign,
        service_code="waon",
        cert_ref=cert,
        account_ref=account,
    )


EARLIER: list[Write] = [
    enrollment("e-1", "cert-P1", "acct-A1"),
    enrollment("e-2", "cert-P9", "acct-A9"),
]
BATCH: list[Write] = [
    enrollment("e-3", "cert-P1", "acct-A3"),  # P1 applied in C1 already
    enrollment("e-4", "cert-P2", "acct-A1"),  # A1 is P1's
    enrollment("e-5", "cert-P3", "acct-A5"),  # new person, new account
    enrollment("e-6", "cert-P4", "acct-A9", campaign="C2"),  # A9 is P9's
    enrollment("e-7", "cert-P5", "acct-A7", campaign="C2"),
    enrollment("e-2", "cert-P8", "acct-A8"),  # answered already (what it holds is not read)
    RecordAnswer(
        enrollment_id="e-8",
        payload_digest="d-e-8",
        kiosk_id="K-1",
        receipt_no="R-e-8",
        now=NOW,
        answer={"status": "rejected", "reason": "account_not_confirmed"},
    ),
]


def normalised(results: list[tuple[str, dict[str, Any]]]) -> list[tuple[Any, ...]]:
    """Answers with each MyKey ID replaced by the order it first appears in."""
    seen: dict[str, int] = {}
    out = []
    for digest, answer in results:
        person = seen.setdefault(answer["mykey_id"], len(seen)) if "mykey_id" in answer else None
        out.append((digest, answer["status"], answer.get("reason"), person))
    return out


def stored(store: SqliteStore) -> list[tuple[Any, ...]]:
    with store.transaction(write=False) as tx:
        return tx.all(
            "SELECT e.enrollment_id, e.status, a.campaign_id, l.account_ref FROM enrollments e"
            " LEFT JOIN applications a ON a.kiosk_id = e.kiosk_id"
            " AND a.enrollment_id = e.enrollment_id"
            " LEFT JOIN account_links l ON l.enrollment_id = e.enrollment_id"
            " ORDER BY e.enrollment_id"
        )


def test_set_wise_writes_answer_as_one_by_one(tmp_path: Path) -> None:
    assert _independent(BATCH)  # so write_many takes the set-wise path
    answers, rows = [], []
    for name, one_by_one in (("set", False), ("single", True)):
        store = SqliteStore(tmp_path / f"{name}.sqlite3")
        store.migrate()
        store.write_many(EARLIER)
        if one_by_one:
            got = [result for write in BATCH for result in store.write_many([write])]
        else:
            got = store.write_many(BATCH)
        answers.append(normalised(store.write_many(EARLIER) + got))
        rows.append(stored(store))
        store.close()
    assert answers[0] == answers[1]
    assert rows[0] == rows[1]
    statuses = [(a[1], a[2]) for a in answers[0][len(EARLIER) :]]
    assert statuses == [
        ("rejected", "already_applied"),
        ("rejected", "account_already_linked"),
        ("accepted", None),
        ("rejected", "account_already_linked"),
        ("accepted", None),
        ("accepted", None),  # e-2's stored answer
        ("rejected", "account_not_confirmed"),
    ]


def test_a_watched_file_is_looked_at_once_per_batch(tmp_path: Path) -> None:
    path = tmp_path / "accounts.json"
    path.write_text('{"n": 1}')
    watched = ReferenceFile(path, "accounts file")
    with one_look():
        assert watched.read() == {"n": 1}
        path.write_text('{"n": 22}')  # another size: a change the next look sees
        assert watched.read() == {"n": 1}  # this batch keeps what it saw
    assert watched.read() == {"n": 22}  # the next batch sees the change
