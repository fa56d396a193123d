"""``kill -9`` of the sync process while 健康保険証 registrations and enrollments are in
flight: each is answered exactly once at the central service (issue 11). The harness of
tests/test_sync_crash.py, in five bounded rounds."""

import os
import random
import signal
import sqlite3
import time

import pytest

from kiosk.controller import guard_key
from kiosk.procedures import health_insurance
from sim.enrollments import (
    card_sign,
    central_answers,
    central_client,
    central_outbox,
    enroll_valid,
    new_card,
    quick_worker,
    sync_process,
    sync_until_settled,
)

pytest_plugins = ["tests.fixtures.central"]

pytestmark = pytest.mark.slow  # each test here takes half a second or more

ROUNDS = 5


def registrations_at_central(central) -> dict[str, int]:
    conn = sqlite3.connect(f"file:{central.database_file}?mode=ro", uri=True, timeout=10)
    try:
        rows = conn.execute(
            "SELECT enrollment_id, count(*) FROM registrations GROUP BY enrollment_id"
        ).fetchall()
        return dict(rows)
    finally:
        conn.close()


def register_valid(outbox, central):
    card = new_card(central.pki)
    payload = health_insurance.payload(
        procedure="health_insurance", kiosk_id=central.kiosk_id, campaign_id=""
    )
    key = guard_key(card.certificate_der, "health_insurance")
    return outbox.enqueue(payload, card.certificate_der, card_sign(card, payload), key)


def test_sync_killed_at_random_moments_registers_each_card_exactly_once(central_service, tmp_path):
    db = tmp_path / "queue.sqlite3"
    rng = random.Random()
    registrations, enrollments = [], []
    with central_outbox(central_service, db) as outbox:
        for _ in range(ROUNDS):
            registrations.append(register_valid(outbox, central_service))
            enrollments.append(enroll_valid(outbox, central_service))
            sync = sync_process(central_service, db, "--batch-size", "1")
            time.sleep(rng.uniform(0.0, 0.12))
            os.kill(sync.pid, signal.SIGKILL)
            sync.wait(10)

        worker = quick_worker(db, central_client(central_service))
        sync_until_settled(worker, outbox)
        worker.close()

        answers = central_answers(central_service)
        stored = registrations_at_central(central_service)
        for q in registrations + enrollments:
            assert (outbox.get(q.enrollment_id).state, answers[q.enrollment_id]) == (
                "accepted",
                ("accepted", 1),
            )
        assert stored == {q.enrollment_id: 1 for q in registrations}
        assert outbox.status().counts["sending"] == 0
