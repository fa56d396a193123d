"""The outbox as the kiosk uses it: durable, sealed, guarded, with a readable status."""

import base64
import hashlib
import sqlite3
import threading
import time

import pytest
from cryptography.exceptions import InvalidTag

from contract.wire import open_sealed
from offline_queue import policy
from offline_queue.delivery import DeliveryLedger
from offline_queue.errors import (
    AlreadyEnrolledHere,
    EnrollmentSignatureInvalid,
    NoSealingKey,
    QueueInputInvalid,
    QueueUnavailable,
)
from offline_queue.receipt import is_valid_receipt_no
from offline_queue.schema import SCHEMA_VERSION
from offline_queue.store import Outbox, issuer_serial_key_of
from sim.enrollments import (
    KIOSK_ID,
    SECURITY_CODE,
    SERVICE_USER_ID,
    CentralSealingKey,
    make_outbox,
    new_card,
    signed_enrollment,
)


@pytest.fixture
def central_key():
    return CentralSealingKey.generate()


@pytest.fixture
def outbox(tmp_path, central_key):
    with make_outbox(tmp_path / "queue.sqlite3", [central_key.public]) as box:
        yield box


def answer(path, enrollment_id, status, **fields):
    """Record a central answer the way the sync worker does."""
    ledger = DeliveryLedger(path)
    items = [i for i in ledger.claim_due(100) if i.enrollment_id == enrollment_id]
    ledger.record_results(items, {enrollment_id: {"status": status, **fields}})
    ledger.close()


def test_enqueued_enrollment_is_on_disk_when_enqueue_returns(outbox, tmp_path):
    queued = outbox.enqueue(*signed_enrollment(new_card()).args())
    fresh = sqlite3.connect(tmp_path / "queue.sqlite3")
    row = fresh.execute(
        "SELECT receipt_no, state FROM enrollments WHERE enrollment_id = ?",
        [queued.enrollment_id],
    ).fetchone()
    assert row == (queued.receipt_no, "pending")


def test_queue_database_runs_in_wal_with_synchronous_full(outbox):
    conn = outbox._db.conn
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_receipt_number_of_an_enrollment_carries_a_valid_check_character(outbox):
    queued = outbox.enqueue(*signed_enrollment(new_card()).args())
    assert is_valid_receipt_no(queued.receipt_no)
    assert outbox.find_by_receipt_no(queued.receipt_no.lower()).enrollment_id == (
        queued.enrollment_id
    )


def test_a_receipt_number_collision_draws_a_new_number(outbox, monkeypatch):
    first = outbox.enqueue(*signed_enrollment(new_card()).args())
    numbers = iter([first.receipt_no, "Z9F-6ZG-N44"])
    monkeypatch.setattr("offline_queue.store.new_receipt_no", lambda: next(numbers))
    second = outbox.enqueue(*signed_enrollment(new_card()).args())
    assert second.receipt_no == "Z9F-6ZG-N44"


def test_sealed_data_opens_only_with_the_central_private_key_for_its_enrollment(
    outbox, central_key
):
    enrollment = signed_enrollment(new_card())
    queued = outbox.enqueue(*enrollment.args())
    key_id, sealed = outbox._db.execute(
        "SELECT key_id, sealed FROM enrollments WHERE enrollment_id = ?", [queued.enrollment_id]
    ).fetchone()
    payload, cert, signature = open_sealed(
        central_key.private_key, key_id, queued.enrollment_id, sealed
    )
    assert (payload, cert, signature) == (
        enrollment.payload,
        enrollment.certificate_der,
        enrollment.signature,
    )
    with pytest.raises(InvalidTag):  # bound to its enrollment id: no replay under another
        open_sealed(central_key.private_key, key_id, "00000000-0000-4000-8000-000000000000", sealed)


def test_newest_sealing_key_seals_new_enrollments(tmp_path):
    old, new = CentralSealingKey.generate(), CentralSealingKey.generate()
    with make_outbox(tmp_path / "q.sqlite3", [old.public, new.public]) as box:
        queued = box.enqueue(*signed_enrollment(new_card()).args())
        key_id = box._db.execute(
            "SELECT key_id FROM enrollments WHERE enrollment_id = ?", [queued.enrollment_id]
        ).fetchone()[0]
    assert key_id == new.public.key_id


def test_queue_files_hold_no_id_code_certificate_or_signature_in_the_clear(outbox, tmp_path):
    enrollment = signed_enrollment(new_card())
    outbox.enqueue(*enrollment.args())
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("queue.sqlite3*"))
    assert len(raw) > 4096
    cert = enrollment.certificate_der
    secrets_in_clear = {
        "service user id": SERVICE_USER_ID.encode(),
        "security code": SECURITY_CODE.encode(),
        "certificate": cert,
        "certificate middle": cert[len(cert) // 2 : len(cert) // 2 + 32],
        "certificate base64": base64.b64encode(cert)[100:140],
        "signature": enrollment.signature[:32],
        "issuer+serial": enrollment.issuer_serial_key[-21:],
        "unkeyed hash of issuer+serial": hashlib.sha256(enrollment.issuer_serial_key).digest(),
    }
    found = [name for name, needle in secrets_in_clear.items() if needle in raw]
    assert found == []


def test_same_card_cannot_enroll_twice_at_this_kiosk_while_pending(outbox):
    card = new_card()
    first = signed_enrollment(card)
    outbox.enqueue(*first.args())
    assert outbox.already_enrolled_here(first.issuer_serial_key)
    with pytest.raises(AlreadyEnrolledHere) as caught:
        outbox.enqueue(*signed_enrollment(card).args())
    assert caught.value.kind == "already_enrolled_here"
    assert outbox.status().counts["pending"] == 1


def test_another_card_is_not_blocked_by_the_guard(outbox):
    outbox.enqueue(*signed_enrollment(new_card()).args())
    other = signed_enrollment(new_card())
    assert not outbox.already_enrolled_here(other.issuer_serial_key)


def test_card_guard_is_keyed_per_kiosk(tmp_path, central_key):
    card = signed_enrollment(new_card())
    guards = []
    for name in ("a", "b"):
        with make_outbox(tmp_path / f"{name}.sqlite3", [central_key.public]) as box:
            box.enqueue(*card.args())
            guards.append(box._db.execute("SELECT card_guard FROM enrollments").fetchone()[0])
    assert guards[0] != guards[1]


def test_a_card_whose_enrollment_was_rejected_may_enroll_again(outbox, tmp_path):
    card = new_card()
    first = outbox.enqueue(*signed_enrollment(card).args())
    answer(
        tmp_path / "queue.sqlite3", first.enrollment_id, "rejected", reason="account_not_confirmed"
    )
    assert not outbox.already_enrolled_here(signed_enrollment(card).issuer_serial_key)
    outbox.enqueue(*signed_enrollment(card).args())


def test_enqueue_retried_with_the_same_enrollment_returns_the_first_receipt(outbox):
    enrollment = signed_enrollment(new_card())
    assert outbox.enqueue(*enrollment.args()) == outbox.enqueue(*enrollment.args())
    assert outbox.status().counts["pending"] == 1


def test_signature_that_does_not_match_the_payload_is_refused_and_nothing_stored(outbox):
    enrollment = signed_enrollment(new_card())
    tampered = dict(enrollment.payload, service_code="paypay")
    with pytest.raises(EnrollmentSignatureInvalid) as caught:
        outbox.enqueue(
            tampered, enrollment.certificate_der, enrollment.signature, enrollment.issuer_serial_key
        )
    assert caught.value.kind == "signature_invalid"
    assert sum(outbox.status().counts.values()) == 0


@pytest.mark.parametrize(
    "change",
    [
        {"kiosk_id": "K-9999"},
        {"enrollment_id": "not-a-uuid"},
        {"v": 99},
    ],
    ids=["another kiosk", "not a uuid", "unknown wire version"],
)
def test_malformed_payload_is_refused_with_a_typed_error(outbox, change):
    enrollment = signed_enrollment(new_card())
    payload = dict(enrollment.payload, **change)
    with pytest.raises(QueueInputInvalid) as caught:
        outbox.enqueue(
            payload, enrollment.certificate_der, enrollment.signature, enrollment.issuer_serial_key
        )
    assert caught.value.kind == "queue_input_invalid"
    assert sum(outbox.status().counts.values()) == 0


def test_outbox_without_a_sealing_key_refuses_to_start(tmp_path):
    with pytest.raises(NoSealingKey):
        Outbox(tmp_path / "q.sqlite3", [], KIOSK_ID, b"x" * 32)


def test_status_counts_states_and_the_age_of_the_oldest_pending(outbox, tmp_path):
    first = outbox.enqueue(*signed_enrollment(new_card()).args())
    answer(tmp_path / "queue.sqlite3", first.enrollment_id, "accepted", mykey_id="AB12CD34")
    outbox.enqueue(*signed_enrollment(new_card()).args())
    time.sleep(0.05)
    status = outbox.status()
    assert status.counts == {"pending": 1, "sending": 0, "accepted": 1, "rejected": 0, "dead": 0}
    assert 0.05 <= status.oldest_pending_age_s < 5
    assert status.last_success_at is not None


def test_accepted_enrollment_loses_its_sealed_data_when_answered(outbox, tmp_path):
    queued = outbox.enqueue(*signed_enrollment(new_card()).args())
    answer(tmp_path / "queue.sqlite3", queued.enrollment_id, "accepted", mykey_id="AB12CD34")
    row = outbox.get(queued.enrollment_id)
    assert (row.state, row.mykey_id, row.has_sealed_data) == ("accepted", "AB12CD34", False)


def test_rejected_enrollment_keeps_sealed_data_until_shown(outbox, tmp_path):
    queued = outbox.enqueue(*signed_enrollment(new_card()).args())
    answer(tmp_path / "queue.sqlite3", queued.enrollment_id, "rejected", reason="already_applied")
    assert outbox.get(queued.enrollment_id).has_sealed_data
    outbox.mark_shown(queued.enrollment_id)
    row = outbox.get(queued.enrollment_id)
    assert (row.state, row.reason, row.has_sealed_data) == ("rejected", "already_applied", False)


def test_answered_rows_are_deleted_after_the_retention_period(outbox, tmp_path):
    queued = outbox.enqueue(*signed_enrollment(new_card()).args())
    answer(tmp_path / "queue.sqlite3", queued.enrollment_id, "accepted", mykey_id="AB12CD34")
    ledger = DeliveryLedger(tmp_path / "queue.sqlite3")
    ledger.apply_retention(now=time.time() + policy.ROW_RETENTION_AFTER_ANSWER_S + 60)
    assert outbox.get(queued.enrollment_id) is None


def test_retention_never_touches_an_enrollment_still_waiting_for_its_answer(outbox, tmp_path):
    queued = outbox.enqueue(*signed_enrollment(new_card()).args())
    ledger = DeliveryLedger(tmp_path / "queue.sqlite3")
    ledger.apply_retention(now=time.time() + 10 * 365 * 24 * 3600)
    row = outbox.get(queued.enrollment_id)
    assert (row.state, row.has_sealed_data) == ("pending", True)


def test_database_schema_is_versioned_and_reopening_keeps_the_data(tmp_path, central_key):
    path = tmp_path / "q.sqlite3"
    with make_outbox(path, [central_key.public]) as box:
        queued = box.enqueue(*signed_enrollment(new_card()).args())
    with make_outbox(path, [central_key.public]) as box:
        assert box._db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert box.get(queued.enrollment_id).receipt_no == queued.receipt_no


def test_database_from_newer_software_is_refused_with_a_typed_error(tmp_path, central_key):
    path = tmp_path / "q.sqlite3"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(QueueUnavailable) as caught:
        make_outbox(path, [central_key.public])
    assert caught.value.kind == "queue_unavailable"


def test_outbox_shared_between_threads_commits_every_enrollment(outbox):
    enrollments = [signed_enrollment(new_card()) for _ in range(40)]
    errors = []

    def enqueue_some(chunk):
        try:
            for e in chunk:
                outbox.enqueue(*e.args())
                outbox.status()
        except Exception as error:  # noqa: BLE001 - collected and asserted below
            errors.append(error)

    threads = [threading.Thread(target=enqueue_some, args=(enrollments[i::4],)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert outbox.status().counts["pending"] == 40


def test_status_says_offline_after_a_failure_and_online_after_an_answer(outbox, tmp_path):
    assert outbox.status().online is None  # never tried
    queued = outbox.enqueue(*signed_enrollment(new_card()).args())
    ledger = DeliveryLedger(tmp_path / "queue.sqlite3")
    ledger.record_transport_failure(ledger.claim_due(10), policy.ERROR_UNREACHABLE)
    assert outbox.status().online is False
    answer(tmp_path / "queue.sqlite3", queued.enrollment_id, "accepted", mykey_id="AB12CD34")
    assert outbox.status().online is True


def test_queue_in_a_missing_directory_is_a_typed_error(tmp_path, central_key):
    with pytest.raises(QueueUnavailable):
        make_outbox(tmp_path / "no" / "such" / "q.sqlite3", [central_key.public])


def test_a_file_that_is_not_a_queue_database_is_a_typed_error(tmp_path, central_key):
    path = tmp_path / "q.sqlite3"
    path.write_bytes(b"this is not an SQLite database, just text" * 200)
    with pytest.raises(QueueUnavailable) as caught:
        make_outbox(path, [central_key.public])
    assert "not an SQLite database" in str(caught.value)


def test_a_certificate_that_is_not_der_is_refused_with_a_typed_error(outbox):
    enrollment = signed_enrollment(new_card())
    with pytest.raises(QueueInputInvalid):
        issuer_serial_key_of(b"\x30\x03garbage")
    with pytest.raises(QueueInputInvalid):
        outbox.enqueue(
            enrollment.payload, b"\x30\x03garbage", enrollment.signature, b"issuer|serial"
        )
    assert sum(outbox.status().counts.values()) == 0


def test_a_queue_created_at_run_time_is_group_writable_for_the_sync_user(tmp_path, central_key):
    path = tmp_path / "q.sqlite3"
    box = make_outbox(path, [central_key.public])
    box.enqueue(*signed_enrollment(new_card()).args())
    for name in ("q.sqlite3", "q.sqlite3-wal", "q.sqlite3-shm"):
        mode = (tmp_path / name).stat().st_mode & 0o777
        assert mode == 0o660, f"{name} is {oct(mode)}"


@pytest.mark.slow
def test_kiosk_and_sync_opening_a_new_queue_at_once_both_succeed(tmp_path) -> None:
    """At first boot both services create the database in the same instant. Switching a new
    database to WAL then fails at once with SQLITE_BUSY (no busy handler) for the one that
    loses: it must open again, not report the queue unavailable and crash-loop."""
    from offline_queue.db import open_queue_db

    openers, rounds = 4, 300
    failures: list[str] = []
    for round_no in range(rounds):
        path = tmp_path / f"queue-{round_no}.sqlite3"
        start = threading.Barrier(openers)

        def open_it(path=path, start=start, round_no=round_no) -> None:
            start.wait()
            try:
                open_queue_db(path, busy_timeout_s=5).conn.close()
            except Exception as error:  # every failure is the finding
                failures.append(f"round {round_no}: {error!r}")

        threads = [threading.Thread(target=open_it) for _ in range(openers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert failures == []
