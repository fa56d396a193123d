"""Sync against the real reference central service over HTTPS with mutual TLS on loopback."""

import secrets

import pytest

from central.devcerts import DevTLS
from offline_queue import policy
from offline_queue.sync import CentralClient
from sim.enrollments import (
    central_answers,
    central_application_count,
    central_client,
    central_outbox,
    enroll_valid,
    new_card,
    quick_worker,
    signed_enrollment,
    stop,
    sync_process,
    sync_until_settled,
)

pytest_plugins = ["tests.fixtures.central"]

pytestmark = pytest.mark.slow  # each test here takes half a second or more


@pytest.fixture
def outbox(central_service, tmp_path):
    with central_outbox(central_service, tmp_path / "queue.sqlite3") as box:
        yield box


@pytest.fixture
def worker(central_service, tmp_path, outbox):
    worker = quick_worker(tmp_path / "queue.sqlite3", central_client(central_service))
    yield worker
    worker.close()


def test_online_enrollment_is_accepted_and_the_kiosk_reads_the_answer_back(
    central_service, outbox, tmp_path
):
    # A 60 s idle poll: only the wake socket can make the answer come back quickly.
    sync = sync_process(central_service, tmp_path / "queue.sqlite3", "--idle-poll", "60")
    try:
        queued = enroll_valid(outbox, central_service)
        answer = outbox.wait_for_answer(queued.enrollment_id, timeout_s=5)
    finally:
        stop(sync)
    assert answer.state == "accepted"
    assert len(answer.mykey_id) == 8
    assert answer.has_sealed_data is False
    assert central_answers(central_service)[queued.enrollment_id] == ("accepted", 1)


def test_sync_process_stops_cleanly_on_sigterm(central_service, outbox, tmp_path):
    sync = sync_process(central_service, tmp_path / "queue.sqlite3")
    sync.terminate()
    assert sync.wait(5) == 0


def test_second_sync_process_on_the_same_queue_refuses_to_start(central_service, outbox, tmp_path):
    first = sync_process(central_service, tmp_path / "queue.sqlite3")
    try:
        second = sync_process(central_service, tmp_path / "queue.sqlite3", wait_ready=False)
        assert second.wait(5) == 2
        assert b"sync_already_running" in second.stderr.read()
    finally:
        stop(first)


def test_enrollments_queue_while_the_service_is_down_and_all_arrive_when_it_is_back(
    central_service, outbox, worker
):
    central_service.stop()
    queued = [enroll_valid(outbox, central_service) for _ in range(5)]
    worker.run_once()
    status = outbox.status()
    assert status.counts["pending"] == 5
    assert status.last_error_kind == policy.ERROR_UNREACHABLE
    assert status.oldest_pending_age_s is not None

    central_service.start()
    sync_until_settled(worker, outbox)
    assert [outbox.get(q.enrollment_id).state for q in queued] == ["accepted"] * 5
    assert outbox.status().last_success_at is not None
    assert central_application_count(central_service) == 5


def test_account_already_linked_comes_back_as_a_rejection_with_its_reason(
    central_service, outbox, worker
):
    service_code, user_id, codes = central_service.new_account()
    first, second = (
        outbox.enqueue(
            *signed_enrollment(
                new_card(central_service.pki),
                central_service.kiosk_id,
                service_code=service_code,
                service_user_id=user_id,
                security_codes=tuple(codes),
            ).args()
        )
        for _ in range(2)
    )
    sync_until_settled(worker, outbox)
    assert outbox.get(first.enrollment_id).state == "accepted"
    rejected = outbox.get(second.enrollment_id)
    assert (rejected.state, rejected.reason) == ("rejected", "account_already_linked")


def test_conflicting_enrollment_goes_dead_and_never_blocks_the_others(
    central_service, outbox, worker
):
    # The central service already holds this enrollment id with another payload.
    card = new_card(central_service.pki)
    taken = signed_enrollment(card, central_service.kiosk_id)
    item, _ = central_service.make_item(
        new_card(central_service.pki), enrollment_id=taken.payload["enrollment_id"]
    )
    with central_service.session() as session:
        session.post(central_service.base_url + "/v1/enrollments/batch", json={"items": [item]})
    outbox.enqueue(*taken.args())
    others = [enroll_valid(outbox, central_service) for _ in range(3)]

    sync_until_settled(worker, outbox)
    dead = outbox.get(taken.payload["enrollment_id"])
    assert (dead.state, dead.last_error_kind) == ("dead", policy.ERROR_CONFLICT)
    assert [outbox.get(q.enrollment_id).state for q in others] == ["accepted"] * 3
    assert outbox.list_by_state("dead")[0].receipt_no == dead.receipt_no


def test_server_not_signed_by_the_pinned_ca_gets_nothing(central_service, outbox, tmp_path):
    stranger = DevTLS.create(tmp_path / "stranger-tls")
    client = CentralClient(
        central_service.base_url,
        stranger.ca_cert,
        central_service.client_cert,
        central_service.client_key,
    )
    worker = quick_worker(tmp_path / "queue.sqlite3", client)
    queued = enroll_valid(outbox, central_service)
    worker.run_once()
    worker.close()
    assert outbox.get(queued.enrollment_id).state == "pending"
    assert outbox.status().last_error_kind == policy.ERROR_TLS
    assert queued.enrollment_id not in central_answers(central_service)


def test_queue_files_hold_no_ids_codes_or_certificates_after_a_sync_cycle(
    central_service, outbox, worker, tmp_path
):
    # Long marker values: a 4-digit code could turn up by chance in UUIDs or ciphertext.
    user_id, code = f"7{secrets.randbelow(10**19):019d}", f"{secrets.randbelow(10**12):012d}"
    central_service.add_account("waon", user_id, [code])
    enrollments = [
        signed_enrollment(
            new_card(central_service.pki),
            central_service.kiosk_id,
            service_user_id=user_id,
            security_codes=(code,),
        )
        for _ in range(2)  # the second is rejected: account already linked
    ]
    for e in enrollments:
        outbox.enqueue(*e.args())
    sync_until_settled(worker, outbox)
    assert sorted(outbox.status().counts.items()) == sorted(
        {"accepted": 1, "rejected": 1, "pending": 0, "sending": 0, "dead": 0}.items()
    )
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("queue.sqlite3*"))
    needles = [user_id.encode(), code.encode()]
    for e in enrollments:
        cert = e.certificate_der
        needles += [cert[200:240], cert[-64:], e.signature[:32], e.issuer_serial_key[-21:]]
    assert [n for n in needles if n in raw] == []
