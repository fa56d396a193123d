"""A kiosk killed with SIGKILL in the middle of enqueuing leaves a consistent queue."""

import os
import queue
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from offline_queue.receipt import is_valid_receipt_no
from sim.enrollments import (
    GUARD_SECRET_FOR_CRASH_TESTS,
    KIOSK_ID,
    CentralSealingKey,
    make_outbox,
    new_card,
    signed_enrollment,
)
from sim.pki import TestPKI

pytestmark = pytest.mark.slow  # each test here takes half a second or more

ROUNDS = 8
REPO_ROOT = Path(__file__).resolve().parents[1]


def run_and_kill(db, public_pem, pki_dir, receipts_before_kill, jitter_s):
    """Start an enqueuing kiosk, SIGKILL it ``jitter_s`` after it reported
    ``receipts_before_kill`` receipts (somewhere in its next enqueues: a random moment is
    the point, not a wait for something); returns the receipts it reported.

    Synchronised on the kiosk's own output, not on time: on a loaded machine the child
    may need seconds just to import, and a kill before its first commit tests nothing.
    """
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sim.enrollments",
            str(db),
            str(public_pem),
            KIOSK_ID,
            str(pki_dir),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=REPO_ROOT,
    )
    lines: queue.Queue[str] = queue.Queue()

    def read() -> None:
        for line in process.stdout:
            lines.put(line)
        lines.put("")  # the child's output ended

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    printed: list[str] = []
    try:
        while len(printed) < receipts_before_kill:
            line = lines.get(timeout=120)
            assert line, f"the enqueuing kiosk ended after {len(printed)} receipts"
            printed.append(line)
        time.sleep(jitter_s)
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait(10)
        reader.join(10)
    while not lines.empty():  # what it printed before the kill landed
        printed.append(lines.get_nowait())
    return [line.strip() for line in printed if line.strip()]


def test_kill_9_during_enqueue_leaves_a_consistent_queue_with_every_reported_receipt(tmp_path):
    central_key = CentralSealingKey.generate()
    public_pem = tmp_path / "sealing.pub.pem"
    public_pem.write_bytes(
        central_key.public.public_key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    pki_dir = tmp_path / "pki"
    TestPKI.create(pki_dir)
    db = tmp_path / "queue.sqlite3"
    rng = random.Random()
    reported = []
    for _ in range(ROUNDS):
        reported += run_and_kill(db, public_pem, pki_dir, rng.randint(2, 6), rng.uniform(0, 0.05))

    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    rows = dict(conn.execute("SELECT receipt_no, state FROM enrollments").fetchall())
    conn.close()
    assert len(reported) > ROUNDS  # the kiosk did enqueue between the kills
    assert all(is_valid_receipt_no(r) for r in reported)
    assert [rows.get(r) for r in reported] == ["pending"] * len(reported)
    assert len(rows) - len(reported) <= ROUNDS  # at most one committed-but-unreported per kill

    with make_outbox(db, [central_key.public], guard_secret=GUARD_SECRET_FOR_CRASH_TESTS) as box:
        box.enqueue(*signed_enrollment(new_card()).args())
        assert box.status().counts["pending"] == len(rows) + 1
