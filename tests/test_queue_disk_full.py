"""A full disk makes enqueue fail with a clear typed error and corrupts nothing.

Two real ways to fill it, no mocks:
- the queue's own size cap (``max_size_bytes``, SQLite's ``max_page_count``): runs anywhere;
- a real tiny filesystem: a 1 MiB tmpfs mounted for the test (needs root, skipped otherwise).
"""

import sqlite3
import subprocess

import pytest

from offline_queue.errors import QueueDiskFull
from sim.enrollments import CentralSealingKey, make_outbox, new_card, signed_enrollment
from tests.fixtures.mounts import tmpfs


def fill_until_full(outbox, limit=2000):
    """Enqueue until the disk is full; returns (receipts committed, the error)."""
    receipts = []
    for _ in range(limit):
        try:
            receipts.append(outbox.enqueue(*signed_enrollment(new_card()).args()).receipt_no)
        except QueueDiskFull as error:
            return receipts, error
    raise AssertionError(f"queue never filled up after {limit} enrollments")


def assert_intact(db_path, receipts):
    conn = sqlite3.connect(db_path)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        stored = {r for (r,) in conn.execute("SELECT receipt_no FROM enrollments")}
    finally:
        conn.close()
    assert stored == set(receipts)


def test_queue_at_its_size_cap_refuses_enqueue_with_a_typed_error_and_keeps_the_rest(tmp_path):
    key = CentralSealingKey.generate()
    db = tmp_path / "queue.sqlite3"
    with make_outbox(db, [key.public], max_size_bytes=256 * 1024) as outbox:
        receipts, error = fill_until_full(outbox)
        assert error.kind == "queue_disk_full"
        assert len(receipts) > 10
        assert outbox.status().counts["pending"] == len(receipts)
    assert_intact(db, receipts)
    with make_outbox(db, [key.public], max_size_bytes=1024 * 1024) as outbox:
        outbox.enqueue(*signed_enrollment(new_card()).args())  # room again: works again


@pytest.fixture
def tiny_disk(tmp_path):
    with tmpfs(tmp_path / "tiny", "size=1m") as mount_point:
        yield mount_point


def test_enqueue_on_a_really_full_filesystem_fails_cleanly_and_corrupts_nothing(tiny_disk):
    key = CentralSealingKey.generate()
    db = tiny_disk / "queue.sqlite3"
    with make_outbox(db, [key.public]) as outbox:
        receipts, error = fill_until_full(outbox)
        assert error.kind == "queue_disk_full"
        assert len(receipts) > 5
    assert_intact(db, receipts)
    subprocess.run(["mount", "-o", "remount,size=4m", str(tiny_disk)], check=True)
    with make_outbox(db, [key.public]) as outbox:
        outbox.enqueue(*signed_enrollment(new_card()).args())  # room again: works again
        assert outbox.status().counts["pending"] == len(receipts) + 1
