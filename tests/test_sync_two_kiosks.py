"""Two offline kiosks, two central processes on one PostgreSQL: one person, one acceptance.

The whole path, not just the central rule: each kiosk's own outbox and sync worker, each
syncing to its own central process behind the "load balancer", both released at once.
"""

import threading

import pytest

from sim.enrollments import (
    central_client,
    central_outbox,
    new_card,
    quick_worker,
    signed_enrollment,
    sync_until_settled,
)
from sim.pki import TestPKI
from tests.fixtures.central import prepare_central

pytest_plugins = ["tests.fixtures.central"]

pytestmark = pytest.mark.slow  # each test here takes half a second or more


@pytest.fixture
def two_centrals(tmp_path, postgres_server):
    dsn = postgres_server.new_database()
    pki = TestPKI.create(tmp_path / "jpki")
    a = prepare_central(tmp_path / "a", dsn=dsn, pki=pki)
    b = prepare_central(tmp_path / "b", dsn=dsn, shared_with=a, kiosk_id="K-TEST-0002")
    try:
        a.start()
        b.start()
        yield a, b
    finally:
        a.stop()
        b.stop()


def kiosk(central, tmp_path):
    """(outbox, worker) of the kiosk this central process serves."""
    db = tmp_path / f"queue-{central.kiosk_id}.sqlite3"
    outbox = central_outbox(central, db)
    return outbox, quick_worker(db, central_client(central))


PEOPLE = 5


def test_same_person_at_two_offline_kiosks_ends_with_exactly_one_accepted(two_centrals, tmp_path):
    kiosks = [kiosk(central, tmp_path) for central in two_centrals]
    queued = {}  # person index -> [(outbox, QueuedEnrollment) at each kiosk]
    for person in range(PEOPLE):
        card = new_card(two_centrals[0].pki)
        for central, (outbox, _) in zip(two_centrals, kiosks, strict=True):
            service_code, user_id, codes = central.new_account()
            enrollment = signed_enrollment(
                card,
                central.kiosk_id,
                service_code=service_code,
                service_user_id=user_id,
                security_codes=tuple(codes),
            )
            # offline: queued, nothing sent yet
            queued.setdefault(person, []).append((outbox, outbox.enqueue(*enrollment.args())))

    barrier = threading.Barrier(len(kiosks))

    def back_online(outbox, worker):
        barrier.wait()
        sync_until_settled(worker, outbox)

    threads = [threading.Thread(target=back_online, args=k) for k in kiosks]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)

    for person, pair in queued.items():
        answers = [outbox.get(q.enrollment_id) for outbox, q in pair]
        assert sorted(a.state for a in answers) == ["accepted", "rejected"], person
        assert next(a for a in answers if a.state == "rejected").reason == "already_applied"
    for outbox, worker in kiosks:
        worker.close()
        outbox.close()
