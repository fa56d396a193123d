"""The queue's room, and a kiosk that runs out of it (issue 15: "a full data partition
gives the same clear refusal before the PIN").

The queue says how many bytes it can still grow by (``QueueStatus.room_bytes``, the lesser
of its size cap and its filesystem) and calls itself full below ``ROOM_RESERVE_BYTES``,
while it can still store the applications already under way. The controller tells the
flow (``flow.QueueRoom``) from its health round and after each enqueue, so the next person
is refused at the start, before the card is read and the PIN asked, and the staff screen
and the heartbeat say so. Real queue files: a size cap, and a real 8 MiB tmpfs (root).
The kiosk side runs the real parts (pcscd with the virtual card, the printer on a pty,
the central service over mutual TLS): tests/test_controller.py's ``parts``.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from kiosk import flow, views
from offline_queue.errors import QueueDiskFull
from offline_queue.store import Outbox
from sim.enrollments import CentralSealingKey, make_outbox, new_card, signed_enrollment
from sim.rig import KioskUnderTest
from tests import test_controller
from tests.fixtures.mounts import tmpfs

central = test_controller.central  # fixtures: the kiosk's real parts
parts = test_controller.parts

pytest_plugins = ["tests.fixtures.card", "tests.fixtures.central", "tests.fixtures.printer"]


def fill_while_room(outbox: Outbox, limit: int = 3000) -> tuple[int, int]:
    """Enqueue until the queue says it is full; then on until it refuses. Returns how many
    were stored before it said full, and how many after (the reserve's worth)."""
    before = after = 0
    for _ in range(limit):
        try:
            outbox.enqueue(*signed_enrollment(new_card()).args())
        except QueueDiskFull:
            return before, after
        if outbox.status().full:
            after += 1
        else:
            before += 1
    raise AssertionError(f"the queue never refused after {limit} enrollments")


def test_a_capped_queue_says_full_while_it_still_has_room_for_those_under_way(
    tmp_path: Path,
) -> None:
    with make_outbox(
        tmp_path / "q.sqlite3", [CentralSealingKey.generate().public], max_size_bytes=512 * 1024
    ) as outbox:
        fresh = outbox.status()
        assert not fresh.full and 300 * 1024 < fresh.room_bytes <= 512 * 1024
        before, after = fill_while_room(outbox)
        assert outbox.status().full and outbox.room_full()
    assert before > 20
    assert after >= 10  # stored after "full": a person already past the start loses nothing


@pytest.fixture
def tiny_disk(tmp_path):
    with tmpfs(tmp_path / "tiny", "size=8m") as mount_point:
        yield mount_point


def test_a_queue_on_a_small_real_filesystem_says_full_before_the_disk_refuses(
    tiny_disk: Path,
) -> None:
    db = tiny_disk / "queue.sqlite3"
    with make_outbox(db, [CentralSealingKey.generate().public]) as outbox:
        # the filesystem's room, less what the write-ahead log may still grow by (4 MB)
        assert outbox.status().room_bytes < 8 * 2**20 - 4_000_000
        before, after = fill_while_room(outbox)
    assert before > 20 and after >= 10
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    finally:
        conn.close()


# --- the kiosk --------------------------------------------------------------------------
def full_already(db: Path, guard: bytes, central: Any) -> int:
    """A queue filled to its reserve before the kiosk starts (the kiosk opens it capped)."""
    cap = 256 * 1024
    with Outbox(db, [central.sealing_key], central.kiosk_id, guard, max_size_bytes=cap) as outbox:
        while not outbox.status().full:
            outbox.enqueue(*signed_enrollment(new_card(central.pki), central.kiosk_id).args())
    return cap


def capped(db: Path, guard: bytes, central: Any) -> int:
    """An empty queue, capped at 512 KiB: filled from outside while a person is at the PIN."""
    return 512 * 1024


def fill_to_full(db: Path, guard: bytes, central: Any, cap: int) -> None:
    """What else fills the data partition (another process, earlier applications)."""
    with Outbox(db, [central.sealing_key], central.kiosk_id, guard, max_size_bytes=cap) as outbox:
        while not outbox.status().full:
            outbox.enqueue(*signed_enrollment(new_card(central.pki), central.kiosk_id).args())


def refused_before_the_pin(kiosk: KioskUnderTest) -> None:
    mark = len(kiosk.effects)
    kiosk.send(flow.Start())
    assert kiosk.session.state == flow.ERROR
    assert kiosk.session.error_kind == "queue_full"
    reads = [e for e in kiosk.effects[mark:] if isinstance(e, flow.ReadCertificate)]
    assert reads == []  # the card on the reader is not even read, no PIN asked


@pytest.mark.slow
@pytest.mark.parametrize("parts", [full_already], indirect=True)
def test_a_kiosk_started_on_a_full_queue_refuses_at_the_start_and_tells_staff(
    parts, virtual_card: Any
) -> None:
    kiosk = parts[0]
    kiosk.wait_for(flow.WELCOME, until=lambda s: s.queue_full)  # the first health round
    refused_before_the_pin(kiosk)
    kiosk.send(flow.Done())
    info = kiosk.controller.staff_status().result(timeout=15)
    assert info["queue_full"] is True
    assert "full" in views.staff_figures({**info, "lang": "en"})["storage"]
    # a status check stores nothing: it still runs to the PIN
    session = kiosk.start_and_place_card(flow.MENU_STATUS)
    assert session.state == flow.PIN


@pytest.mark.slow
@pytest.mark.parametrize("parts", [capped], indirect=True)
def test_a_person_at_the_pin_when_the_queue_fills_is_kept_and_the_next_one_refused(
    parts, central: Any, virtual_card: Any
) -> None:
    kiosk, db, guard = parts
    kiosk.start_and_place_card()
    kiosk.enter(central.new_account("waon"))
    fill_to_full(db, guard, central, capped(db, guard, central))  # now, at the PIN screen
    kiosk.pin()
    assert kiosk.wait_for(flow.RESULT).result == flow.RESULT_ACCEPTED  # the reserve held
    kiosk.send(flow.Done())
    kiosk.wait_for(flow.TAKE_CARD)
    virtual_card.remove()
    kiosk.wait_for(flow.WELCOME, until=lambda s: s.queue_full)
    virtual_card.insert()
    refused_before_the_pin(kiosk)


def test_the_enqueue_that_fills_the_queue_tells_the_flow_at_once(tmp_path: Path) -> None:
    """No health rounds here (no central service, no heartbeat): the controller's check
    after each enqueue is what tells the flow, before the next person starts."""
    import queue as queues

    from kiosk.catalog import Catalog
    from kiosk.controller import Controller
    from kiosk.receipt_facts import ReceiptSettings
    from tests.test_storage import _NoCard, _NoPrinter

    key, db, cap = CentralSealingKey.generate(), tmp_path / "q.sqlite3", 512 * 1024
    guard = b"g" * 32
    controller = Controller(
        catalog=Catalog.load(),
        make_card=lambda on_event: _NoCard(),
        printer=_NoPrinter(),
        open_outbox=lambda: Outbox(db, [key.public], "K-0001", guard, max_size_bytes=cap),
        trusted_cas=[],
        receipt_settings=ReceiptSettings("", "https://x/{receipt_no}"),
    )
    events: queues.Queue = queues.Queue()
    controller.start(events.put)
    try:
        with Outbox(db, [key.public], "K-0001", guard, max_size_bytes=cap) as outside:
            while not outside.status().full:
                outside.enqueue(*signed_enrollment(new_card()).args())
        payload, certificate, signature, _ = signed_enrollment(new_card()).args()
        controller.execute(
            flow.Enqueue(payload=payload, certificate_der=certificate, signature=signature)
        )
        answers = [events.get(timeout=10), events.get(timeout=10)]
    finally:
        controller.stop()
    assert flow.QueueRoom(True) in answers  # told with the answer, before anyone starts
    assert any(isinstance(a, flow.Enqueued) for a in answers)  # stored, in the reserve
