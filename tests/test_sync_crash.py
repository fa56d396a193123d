"""``kill -9`` of the sync process at random moments: every enrollment accepted exactly once."""

import os
import random
import signal
import sqlite3
import time

import pytest

from sim.enrollments import (
    central_answers,
    central_application_count,
    central_client,
    central_outbox,
    enroll_valid,
    quick_worker,
    sync_process,
    sync_until_settled,
)

pytest_plugins = ["tests.fixtures.central"]

pytestmark = pytest.mark.slow  # each test here takes half a second or more

ROUNDS = 50
NEW_PER_ROUND = 2


def rows_in_state(db, state):
    conn = sqlite3.connect(db)
    try:
        return conn.execute("SELECT count(*) FROM enrollments WHERE state = ?", [state]).fetchone()[
            0
        ]
    finally:
        conn.close()


def test_sync_killed_at_random_moments_still_delivers_each_enrollment_exactly_once(
    central_service, tmp_path
):
    db = tmp_path / "queue.sqlite3"
    rng = random.Random()
    queued, killed_mid_send = [], 0
    with central_outbox(central_service, db) as outbox:
        for _ in range(ROUNDS):
            queued += [enroll_valid(outbox, central_service) for _ in range(NEW_PER_ROUND)]
            # READY=1 comes just before the first pass: kill somewhere inside the sending.
            sync = sync_process(central_service, db, "--batch-size", "1")
            time.sleep(rng.uniform(0.0, 0.12))
            os.kill(sync.pid, signal.SIGKILL)
            sync.wait(10)
            killed_mid_send += rows_in_state(db, "sending") > 0

        worker = quick_worker(db, central_client(central_service))
        sync_until_settled(worker, outbox)
        worker.close()

        answers = central_answers(central_service)
        print(f"killed mid-send in {killed_mid_send} of {ROUNDS} rounds")
        assert killed_mid_send > 0, "no kill landed between a claim and its answer"
        for q in queued:
            mine = outbox.get(q.enrollment_id)
            assert (mine.state, answers[q.enrollment_id]) == ("accepted", ("accepted", 1))
        assert central_application_count(central_service) == len(queued)
        assert outbox.status().counts["sending"] == 0
