"""Network faults between the kiosk and the central service: nothing lost, nothing doubled.

The fault proxy (tests/fixtures/network.py) sits between the sync worker and the real
central service, terminating mutual TLS with the service's own certificates so it can
fail single requests (500, 503, lost answer, stalled answer) as well as connections
(reset, blackhole, garbage).
"""

import random
import time

import pytest

from offline_queue import policy
from sim.clock import SkipAheadClock
from sim.enrollments import (
    central_answers,
    central_application_count,
    central_client,
    central_mykey_ids,
    central_outbox,
    enroll_valid,
    quick_worker,
    sync_until_settled,
)
from tests.fixtures.network import TLSTermination

pytest_plugins = ["tests.fixtures.central", "tests.fixtures.network"]

pytestmark = pytest.mark.slow  # each test here takes half a second or more


@pytest.fixture
def proxy(central_service, fault_proxy):
    tls = TLSTermination(
        server_cert=central_service.tls.server_cert,
        server_key=central_service.tls.server_key,
        client_ca=central_service.ca_cert,
        upstream_ca=central_service.ca_cert,
        upstream_cert=central_service.client_cert,
        upstream_key=central_service.client_key,
    )
    return fault_proxy(("127.0.0.1", central_service.port), tls, stall_s=2.0)


@pytest.fixture
def outbox(central_service, tmp_path):
    with central_outbox(central_service, tmp_path / "queue.sqlite3") as box:
        yield box


@pytest.fixture
def clock():
    """The worker's clock: the real one, which a test may move forward instead of sleeping."""
    return SkipAheadClock()


@pytest.fixture
def worker(central_service, proxy, outbox, tmp_path, clock):
    client = central_client(central_service, proxy.url, connect_timeout_s=1.0, read_timeout_s=1.0)
    worker = quick_worker(tmp_path / "queue.sqlite3", client, batch_size=3, clock=clock)
    yield worker
    worker.close()


def assert_each_accepted_exactly_once(central, outbox, queued):
    answers, mykey_ids = central_answers(central), central_mykey_ids(central)
    for q in queued:
        mine = outbox.get(q.enrollment_id)
        assert mine.state == "accepted"
        assert answers[q.enrollment_id] == ("accepted", 1)
        assert mine.mykey_id == mykey_ids[q.enrollment_id]  # the ID central issued, not a guess
    assert central_application_count(central) == len(queued)


def test_server_errors_delay_delivery_but_lose_and_double_nothing(
    central_service, proxy, outbox, worker
):
    queued = [enroll_valid(outbox, central_service) for _ in range(6)]
    proxy.inject("http_500", "http_500", "http_500")
    sync_until_settled(worker, outbox)
    assert proxy.applied["http_500"] == 3
    assert_each_accepted_exactly_once(central_service, outbox, queued)


def test_an_item_never_goes_dead_for_server_errors_however_many(
    central_service, proxy, outbox, worker
):
    queued = [enroll_valid(outbox, central_service)]
    proxy.inject(*["http_500"] * (policy.MAX_PERMANENT_FAILURES + 2))
    sync_until_settled(worker, outbox)
    assert_each_accepted_exactly_once(central_service, outbox, queued)


def test_lost_answers_are_resent_and_the_central_answers_from_its_record(
    central_service, proxy, outbox, worker
):
    queued = [enroll_valid(outbox, central_service) for _ in range(6)]
    proxy.inject("lose_response", "lose_response")
    sync_until_settled(worker, outbox)
    assert proxy.applied["lose_response"] == 2
    assert proxy.requests_forwarded >= 4  # the lost batches reached the central service twice
    assert_each_accepted_exactly_once(central_service, outbox, queued)


def test_a_slow_answer_within_the_timeout_is_simply_taken(central_service, proxy, outbox, worker):
    queued = [enroll_valid(outbox, central_service) for _ in range(3)]
    proxy.inject("slow_response")
    worker.run_once()
    assert proxy.applied["slow_response"] == 1
    assert_each_accepted_exactly_once(central_service, outbox, queued)


def test_timeouts_on_a_stalled_answer_or_a_blackhole_lose_and_double_nothing(
    central_service, proxy, outbox, worker
):
    queued = [enroll_valid(outbox, central_service) for _ in range(6)]
    proxy.inject("stall_response", "blackhole")
    worker.run_once()
    assert outbox.status().last_error_kind == policy.ERROR_TIMEOUT
    sync_until_settled(worker, outbox)
    assert_each_accepted_exactly_once(central_service, outbox, queued)


def test_connection_resets_and_garbage_lose_and_double_nothing(
    central_service, proxy, outbox, worker
):
    queued = [enroll_valid(outbox, central_service) for _ in range(6)]
    proxy.inject("reset", "garbage", "reset")
    worker.run_once()
    assert outbox.status().last_error_kind in (policy.ERROR_UNREACHABLE, policy.ERROR_TLS)
    sync_until_settled(worker, outbox)
    assert proxy.applied["reset"] == 2 and proxy.applied["garbage"] == 1
    assert_each_accepted_exactly_once(central_service, outbox, queued)


def test_retry_after_from_a_busy_service_is_honoured(
    central_service, proxy, outbox, worker, clock
):
    proxy.retry_after_s = 2
    queued = enroll_valid(outbox, central_service)
    proxy.inject("http_503")
    worker.run_once()
    forwarded = proxy.requests_forwarded
    assert outbox.status().last_error_kind == policy.ERROR_BUSY
    assert outbox.status().not_before >= time.time() + 1
    worker.run_once()  # inside the Retry-After window: nothing may be sent
    assert proxy.requests_forwarded == forwarded
    assert proxy.applied["http_503"] == 1
    clock.skip(2.1)  # the Retry-After window has passed
    sync_until_settled(worker, outbox)
    assert outbox.get(queued.enrollment_id).state == "accepted"


def test_a_storm_of_mixed_faults_loses_and_doubles_nothing(central_service, proxy, outbox, worker):
    rng = random.Random(20201)
    faults = [
        "reset",
        "garbage",
        "http_500",
        "http_503",
        "slow_response",
        "lose_response",
        "stall_response",
    ]
    proxy.retry_after_s = 0
    queued = []
    for _ in range(4):
        queued += [enroll_valid(outbox, central_service) for _ in range(4)]
        proxy.inject(*rng.choices(faults, k=3))
        worker.run_once()
    sync_until_settled(worker, outbox, timeout_s=40)
    assert proxy.pending_faults() == 0
    assert_each_accepted_exactly_once(central_service, outbox, queued)


def test_a_refused_batch_is_split_so_the_items_behind_it_still_arrive(
    central_service, proxy, outbox, worker
):
    queued = [enroll_valid(outbox, central_service) for _ in range(3)]
    proxy.inject("http_422")  # the batch of 3 is refused once; each item then goes alone
    sync_until_settled(worker, outbox)
    assert proxy.applied["http_422"] == 1
    status = outbox.status()  # the sync worker's counters, for the heartbeat (issue 13)
    assert status.sync_failures == {policy.ERROR_CLIENT: 1}
    assert status.delivered == {policy.ACCEPTED: 3}
    assert_each_accepted_exactly_once(central_service, outbox, queued)


def test_an_item_refused_again_and_again_goes_dead_and_is_listed_for_staff(
    central_service, proxy, outbox, worker
):
    stuck = enroll_valid(outbox, central_service)
    proxy.inject(*["http_422"] * policy.MAX_PERMANENT_FAILURES)
    sync_until_settled(worker, outbox)
    dead = outbox.get(stuck.enrollment_id)
    assert (dead.state, dead.last_error_kind) == ("dead", policy.ERROR_CLIENT)
    assert dead.has_sealed_data  # kept for staff until they have dealt with it
    assert [d.receipt_no for d in outbox.list_by_state("dead")] == [stuck.receipt_no]
    assert outbox.retry_dead(stuck.enrollment_id)  # staff sends it again
    later = enroll_valid(outbox, central_service)
    sync_until_settled(worker, outbox)
    assert (
        outbox.get(stuck.enrollment_id).state == outbox.get(later.enrollment_id).state == "accepted"
    )


def test_a_backlog_goes_out_in_full_batches_over_one_kept_alive_connection(
    central_service, proxy, outbox, worker
):
    """Seven enrollments waiting, batches of three: three requests on one TLS connection."""
    queued = [enroll_valid(outbox, central_service) for _ in range(7)]
    report = worker.run_once()
    assert (report.sent, report.batches, report.answered) == (7, 3, 7)
    assert (proxy.requests_forwarded, proxy.connections_accepted) == (3, 1)
    assert_each_accepted_exactly_once(central_service, outbox, queued)
