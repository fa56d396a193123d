"""The sync worker's bookkeeping in the queue database (no network needed)."""

import email.utils
import json
import time

import pytest

from offline_queue import policy
from offline_queue.delivery import DeliveryLedger
from offline_queue.policy import Backoff, parse_retry_after
from offline_queue.sync import main as sync_main
from sim.enrollments import CentralSealingKey, make_outbox, new_card, signed_enrollment


@pytest.fixture
def db(tmp_path):
    return tmp_path / "queue.sqlite3"


@pytest.fixture
def outbox(db):
    with make_outbox(db, [CentralSealingKey.generate().public]) as box:
        yield box


def enqueue(outbox, n):
    return [outbox.enqueue(*signed_enrollment(new_card()).args()) for _ in range(n)]


def test_a_row_left_sending_by_a_crashed_worker_is_sent_again(outbox, db):
    (queued,) = enqueue(outbox, 1)
    crashed = DeliveryLedger(db)
    assert [i.enrollment_id for i in crashed.claim_due(10)] == [queued.enrollment_id]
    crashed.close()  # the worker died before the answer came back
    assert outbox.get(queued.enrollment_id).state == "sending"
    again = DeliveryLedger(db).claim_due(10)
    assert [i.enrollment_id for i in again] == [queued.enrollment_id]
    assert again[0].attempts == 2


def test_no_answer_puts_rows_back_to_pending_after_a_backoff(outbox, db):
    enqueue(outbox, 2)
    ledger = DeliveryLedger(db, backoff=Backoff(base_s=10, cap_s=10))
    items = ledger.claim_due(10)
    ledger.record_transport_failure(items, policy.ERROR_UNREACHABLE, retry_after_s=5)
    assert ledger.claim_due(10) == []  # not due yet
    assert outbox.status().counts["pending"] == 2
    assert ledger.next_due_at() >= time.time() + 4


def test_an_answer_makes_rows_parked_by_network_trouble_due_again(outbox, db):
    first, second = enqueue(outbox, 2)
    ledger = DeliveryLedger(db, backoff=Backoff(base_s=100, cap_s=100))
    parked = [i for i in ledger.claim_due(10) if i.enrollment_id == first.enrollment_id]
    ledger.record_transport_failure(parked, policy.ERROR_TIMEOUT, retry_after_s=60)
    answered = ledger.claim_due(10)
    ledger.record_results(answered, {second.enrollment_id: {"status": "accepted"}})
    assert [i.enrollment_id for i in ledger.claim_due(10)] == [first.enrollment_id]


def test_a_missing_answer_for_one_item_leaves_it_pending_not_lost(outbox, db):
    first, second = enqueue(outbox, 2)
    ledger = DeliveryLedger(db)
    ledger.record_results(ledger.claim_due(10), {first.enrollment_id: {"status": "accepted"}})
    assert outbox.get(second.enrollment_id).state == "pending"
    assert outbox.get(second.enrollment_id).has_sealed_data


def test_an_answer_is_never_rewritten_by_a_late_duplicate(outbox, db):
    (queued,) = enqueue(outbox, 1)
    ledger = DeliveryLedger(db)
    items = ledger.claim_due(10)
    ledger.record_results(items, {queued.enrollment_id: {"status": "accepted", "mykey_id": "A1"}})
    ledger.record_results(items, {queued.enrollment_id: {"status": "rejected", "reason": "x"}})
    row = outbox.get(queued.enrollment_id)
    assert (row.state, row.mykey_id, row.reason) == ("accepted", "A1", None)


def test_full_jitter_backoff_stays_between_zero_and_the_capped_exponential():
    backoff = Backoff(base_s=1, cap_s=30)
    for attempts, ceiling in [(1, 1), (2, 2), (4, 8), (10, 30)]:
        delays = [backoff.delay(attempts) for _ in range(300)]
        assert 0 <= min(delays) and max(delays) <= ceiling
        assert max(delays) > ceiling / 2  # spread over the range, not a fixed step


def test_backoff_never_undercuts_retry_after():
    assert all(Backoff(1, 30).delay(1, retry_after_s=12) >= 12 for _ in range(50))


@pytest.mark.parametrize(
    ("header", "expected"),
    [("120", 120.0), (None, None), ("", None), ("soon", None)],
)
def test_retry_after_in_seconds_or_nonsense(header, expected):
    assert parse_retry_after(header) == expected


def test_retry_after_as_an_http_date():
    when = email.utils.formatdate(time.time() + 90, usegmt=True)
    assert 85 <= parse_retry_after(when) <= 91


def test_a_row_put_back_during_a_pass_is_not_sent_again_in_that_pass(outbox, db):
    (queued,) = enqueue(outbox, 1)
    ledger = DeliveryLedger(db, backoff=Backoff(base_s=0.000001, cap_s=0.000001))
    pass_started = time.time()
    items = ledger.claim_due(10, due_by=pass_started)
    ledger.record_results(items, {})  # the answer left it out: back to pending, tiny backoff
    assert ledger.claim_due(10, due_by=pass_started) == []
    assert [i.enrollment_id for i in ledger.claim_due(10)] == [queued.enrollment_id]


def test_staff_can_read_the_queue_status_from_the_command_line(outbox, db, capsys):
    enqueue(outbox, 2)
    assert sync_main(["--db", str(db), "--status"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["counts"]["pending"] == 2
    assert status["oldest_pending_age_s"] >= 0


def test_rows_parked_before_the_clock_was_set_back_are_not_stuck(outbox, db):
    (queued,) = enqueue(outbox, 1)
    ledger = DeliveryLedger(db)
    items = ledger.claim_due(10)
    day = 24 * 3600
    ledger.record_transport_failure(
        items, policy.ERROR_BUSY, retry_after_s=60, now=time.time() + day
    )
    # the clock is now a day behind the one that parked the row
    assert ledger.not_before() is None
    assert ledger.next_due_at() <= time.time() + 1
    assert [i.enrollment_id for i in ledger.claim_due(10)] == [queued.enrollment_id]


def test_claims_take_the_due_rows_oldest_first_across_states_and_a_clock_set_back(outbox, db):
    """The claim reads four index ranges (pending/sending × due/clock-set-back) and merges
    them: the rows and their order are those of one sort over every open row."""
    import random
    import sqlite3

    rows = enqueue(outbox, 24)
    rng = random.Random(7)
    now = time.time()
    conn = sqlite3.connect(db, isolation_level=None)
    plan = []
    for row in rows:
        state = rng.choice(["pending", "pending", "sending", "accepted"])
        due = now + rng.choice([-300, -60, -5, 30, 600, policy.MAX_DELAY_S * 3])
        plan.append((state, due, row.enrollment_id))
    with conn:
        conn.executemany(
            "UPDATE enrollments SET state = ?, next_attempt_at = ?,"
            " sealed = CASE WHEN ? = 'accepted' THEN NULL ELSE sealed END"
            " WHERE enrollment_id = ?",
            [(s, d, s, i) for s, d, i in plan],
        )
    expected = [
        i for i, *_ in conn.execute(
            "SELECT enrollment_id FROM enrollments WHERE state IN ('pending', 'sending')"
            " AND (next_attempt_at <= ? OR next_attempt_at > ?)"
            " ORDER BY next_attempt_at, enqueued_at",
            [now, now + policy.MAX_DELAY_S],
        )
    ]
    copy = db.with_name("copy.sqlite3")
    with sqlite3.connect(copy) as target:
        conn.backup(target)
    conn.close()
    assert len(expected) >= 8
    for limit in (1, 3):  # the first rows of the order, however few are asked for
        ledger = DeliveryLedger(copy)
        assert [i.enrollment_id for i in ledger.claim_due(limit, now=now)] == expected[:limit]
        ledger.close()
        with sqlite3.connect(db) as source, sqlite3.connect(copy) as target:
            source.backup(target)
    ledger = DeliveryLedger(db)
    assert [i.enrollment_id for i in ledger.claim_due(100, now=now)] == expected
