"""The wake socket and the worker's wait loop, with ``mynapoint-sync`` as its own process.

The other sync tests recover in-process (``run_once`` in a loop); these run the real
command against the real central service over HTTPS with mutual TLS, so the worker's own
wait loop between passes is what recovers.
"""

import os
import sqlite3
import subprocess
import sys

import pytest

from offline_queue import policy
from offline_queue.wake import WakeListener, send_wake
from sim.enrollments import (
    central_answers,
    central_outbox,
    enroll_valid,
    stop,
    sync_process,
)
from sim.waiting import eventually

pytest_plugins = ["tests.fixtures.central"]



@pytest.fixture
def db(tmp_path):
    return tmp_path / "queue.sqlite3"


@pytest.fixture
def outbox(central_service, db):
    with central_outbox(central_service, db) as box:
        yield box


def attempts_by_row(db):
    conn = sqlite3.connect(db, timeout=10)
    try:
        return conn.execute("SELECT attempts, last_error_kind FROM enrollments").fetchall()
    finally:
        conn.close()


def alive(process):
    """The process still runs; its stderr is in the failure when it has exited."""
    if process.poll() is not None:
        raise AssertionError(
            f"mynapoint-sync exited with {process.returncode}: "
            + process.stderr.read().decode(errors="replace")[-2000:]
        )
    return True


def test_a_wait_of_zero_seconds_returns_at_once_with_or_without_a_wake(db):
    with WakeListener(db) as listener:
        assert listener.wait(0.0) is False
        assert send_wake(db) is True
        assert listener.wait(0.0) is True
        assert listener.wait(0.0) is False  # drained


@pytest.mark.slow
def test_sync_process_keeps_running_through_an_outage_and_delivers_when_central_is_back(
    central_service, outbox, db
):
    central_service.stop()
    # A backoff of at most 5 ms (full jitter): most waits between passes are already over
    # when the pass ends, so the worker's wait of 0 s, its normal path whenever a row falls
    # due during a pass, comes up in every run rather than now and then.
    sync = sync_process(central_service, db, "--backoff-cap", "0.005")
    try:
        queued = [enroll_valid(outbox, central_service) for _ in range(3)]

        def parked():
            """Every row tried and failed several times: the worker is in its backoff loop."""
            alive(sync)
            rows = attempts_by_row(db)
            return len(rows) == 3 and all(
                attempts >= 20 and kind == policy.ERROR_UNREACHABLE for attempts, kind in rows
            )

        eventually(parked, 30, "rows parked after several failed attempts")
        central_service.start()

        def delivered():
            alive(sync)
            return all(outbox.get(q.enrollment_id).state == "accepted" for q in queued)

        eventually(delivered, 30, "every parked row accepted by the worker process")
        assert alive(sync)
    finally:
        stop(sync)
    answers = central_answers(central_service)
    assert [answers[q.enrollment_id] for q in queued] == [("accepted", 1)] * 3


# What another local user can run: bind the name the worker used to take (an abstract
# socket named after the database path), then try the worker's socket file too.
SQUATTER = """
import hashlib, os, socket, sys
db = sys.argv[1]
old = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
digest = hashlib.sha256(os.path.realpath(db).encode()).hexdigest()[:24]
old.bind("\\0mynapoint-sync-" + digest)
new = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
try:
    new.bind(sys.argv[2])
    print("bound-new", flush=True)
except PermissionError:
    print("refused-new", flush=True)
sys.stdin.read()
"""


@pytest.mark.slow
@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run a second uid (setpriv)")
def test_another_local_user_taking_the_wake_name_first_cannot_stop_sync(
    central_service, outbox, db
):
    squatter = subprocess.Popen(
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
         sys.executable, "-c", SQUATTER, str(db), os.path.realpath(db) + "-sync.wake"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
    )
    try:
        # The queue's directory (pytest's tmp_path, 0700) is closed to that user.
        assert squatter.stdout.readline() == b"refused-new\n"
        sync = sync_process(central_service, db, "--idle-poll", "60")
        try:
            queued = enroll_valid(outbox, central_service)  # woken, not polled
            answer = outbox.wait_for_answer(queued.enrollment_id, timeout_s=10)
            assert answer.state == "accepted"
            assert alive(sync)
        finally:
            stop(sync)
    finally:
        squatter.kill()
        squatter.wait(5)


def test_a_queue_deep_in_a_long_directory_is_still_woken(tmp_path):
    """A socket address holds 107 bytes; a queue whose path is longer (a kiosk's data
    directory on a long mount point, a test's temporary one) must still get its wake."""
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    deep.mkdir(parents=True)
    queue = deep / "queue.sqlite3"
    assert len(str(queue)) > 120
    with WakeListener(queue) as listener:
        assert send_wake(queue) is True
        assert listener.wait(5.0) is True
