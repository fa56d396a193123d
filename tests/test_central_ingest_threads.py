"""``ingest_threads`` (central/config.py, central/app.py IngestFastPath): one enrollment
batch judged at a time per process by default. The real service over mutual TLS: a batch
held up by its provider makes the next batch wait its turn (answered, never refused),
while heartbeats and the other routes of the same process keep answering."""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path
from typing import Any

import pytest

from central.config import CentralConfig
from central.errors import CentralConfigError
from contract import wire
from sim.central import start_central
from sim.waiting import eventually
from tests.test_central_limits_config import load

pytest_plugins = ["tests.fixtures.central"]
pytestmark = pytest.mark.slow


def test_one_ingest_thread_by_default_and_a_bad_count_is_named() -> None:
    assert load().ingest_threads == 1
    assert load(ingest_threads=0).ingest_threads == 0  # the shared pool, as before
    for bad in (-1, 1.5, "2", True, 1000):
        with pytest.raises(CentralConfigError, match="ingest_threads must be a whole number"):
            load(ingest_threads=bad)
    assert isinstance(load(), CentralConfig)


def _writer_once_read(fifo: Path) -> int | None:
    """A writer's end of ``fifo`` once the service opens it to read (None before): a FIFO
    opened without blocking for writing needs a reader."""
    try:
        return os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
    except OSError:
        return None


def test_a_batch_held_by_its_provider_queues_the_next_and_heartbeats_still_answer(
    tmp_path: Path, jpki: Any
) -> None:
    svc = start_central(tmp_path, pki=jpki)
    try:
        _code, user_id, codes = svc.new_account("waon")
        first = svc.make_item(jpki.issue_card(), service_user_id=user_id,
                              security_codes=codes)[0]
        # the second needs no provider: its seal is broken, so it is refused at once
        # unless it has to wait for the first
        other = svc.make_item(jpki.issue_card(), receipt_no="R-0002")[0]
        middle = len(other["sealed"]) // 2
        flipped = "B" if other["sealed"][middle] == "A" else "A"
        second = dict(other, sealed=other["sealed"][:middle] + flipped
                      + other["sealed"][middle + 1:])
        accounts = svc.accounts_file
        doc = accounts.read_text(encoding="utf-8")
        # The provider's file becomes a FIFO: its next read waits until we write to it,
        # as a slow provider would.
        held = accounts.with_name("held.fifo")
        os.mkfifo(held)
        os.replace(held, accounts)
        with svc.session() as s, ThreadPoolExecutor(2) as pool:

            def send(item: dict) -> dict:
                r = s.post(svc.base_url + wire.BATCH_PATH, json=wire.batch_body([item]),
                           timeout=60)
                r.raise_for_status()
                return r.json()["results"][0]

            one = pool.submit(send, first)
            writer = eventually(lambda: _writer_once_read(accounts), 30, "the provider read")
            two = pool.submit(send, second)
            with svc.session() as beat:
                answer = beat.post(svc.base_url + wire.HEARTBEAT_PATH, json={}, timeout=10)
            assert answer.status_code == 200  # the process answers while a batch is held
            # The second waits its turn behind the held one (with a thread of its own it
            # would be refused within milliseconds). A timed wait, but it cannot fail when
            # the code is right: the held batch cannot end before we write.
            with pytest.raises(FutureTimeout):
                two.result(timeout=2)
            assert not one.done()
            plain = accounts.with_name("accounts.tmp")
            plain.write_text(doc, encoding="utf-8")
            os.replace(plain, accounts)  # the next look sees a plain file again
            os.write(writer, doc.encode())
            os.close(writer)
            assert one.result(60)["status"] == wire.ACCEPTED
            assert (two.result(60)["status"], two.result()["reason"]) == (
                wire.REJECTED, "bad_seal"
            )
            assert json.loads(accounts.read_text(encoding="utf-8")) == json.loads(doc)
    finally:
        svc.stop()
