"""The queue's storage is checked before a queue is opened (issue 15): a missing, read-only
or damaged data partition is named, and nothing is made or written there.

Real directories and files; the read-only case is a real read-only tmpfs (needs root,
skipped otherwise).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from kiosk import storage
from sim.enrollments import CentralSealingKey, make_outbox, new_card, signed_enrollment
from tests.fixtures.mounts import tmpfs


def test_a_sound_directory_and_queue_pass(tmp_path: Path) -> None:
    db = tmp_path / "queue.sqlite3"
    assert storage.data_problem(db) is None  # not made yet: a new kiosk
    with make_outbox(db, [CentralSealingKey.generate().public]) as outbox:
        outbox.enqueue(*signed_enrollment(new_card()).args())
    assert storage.data_problem(db) is None
    db.unlink()
    db.touch()  # tmpfiles makes it empty (0660) on the appliance
    assert storage.data_problem(db) is None


def test_a_missing_data_partition_is_named_and_nothing_is_made(tmp_path: Path) -> None:
    db = tmp_path / "var/lib/mynapoint-kiosk/queue.sqlite3"
    with pytest.raises(storage.DataPartitionProblem) as refused:
        storage.check_data(db)
    assert refused.value.problem == "data_missing"
    assert refused.value.kind == "queue_unavailable"
    assert not (tmp_path / "var").exists()


def test_a_damaged_queue_is_named_and_left_as_it_is(tmp_path: Path) -> None:
    db = tmp_path / "queue.sqlite3"
    damaged = b"\x00" * 4096 + b"what fsck left"
    db.write_bytes(damaged)
    assert storage.data_problem(db) == "data_corrupt"
    assert db.read_bytes() == damaged


@pytest.fixture
def read_only_mount(tmp_path):
    with tmpfs(tmp_path / "data", "ro,size=1m") as mount_point:
        yield mount_point


def test_a_read_only_data_partition_is_named(read_only_mount: Path) -> None:
    """As after errors=remount-ro, or the read-only root's empty mount point."""
    assert storage.data_problem(read_only_mount / "queue.sqlite3") == "data_read_only"


class _NoCard:
    """Stand-ins (no reader, no printer): this test is about the queue's storage only."""

    card_present = reader_available = False

    def start(self) -> None: ...

    def stop(self, timeout: float = 5.0) -> None: ...


class _NoPrinter:
    def close(self) -> None: ...

    def status_async(self):
        from concurrent.futures import Future
        from types import SimpleNamespace

        answer: Future = Future()
        answer.set_result(SimpleNamespace(problem=None))
        return answer


def test_a_kiosk_without_its_data_partition_shows_maintenance_and_makes_no_queue(
    tmp_path: Path,
) -> None:
    import queue

    from kiosk import flow
    from kiosk.catalog import Catalog
    from kiosk.controller import Controller
    from kiosk.receipt_facts import ReceiptSettings
    from offline_queue.store import Outbox

    db = tmp_path / "data-missing/queue.sqlite3"

    def open_outbox() -> Outbox:  # as Controller.from_config opens it
        storage.check_data(db)
        return Outbox(db, [CentralSealingKey.generate().public], "K-1", b"g" * 32)

    controller = Controller(
        catalog=Catalog.load(),
        make_card=lambda on_event: _NoCard(),
        printer=_NoPrinter(),
        open_outbox=open_outbox,
        trusted_cas=[],
        receipt_settings=ReceiptSettings("", "https://x/{receipt_no}"),
    )
    events: queue.Queue = queue.Queue()
    controller.start(events.put)
    try:
        assert events.get(timeout=10) == flow.OutOfService(True, storage=True)
        figures = controller.staff_status().result(timeout=10)
        assert figures["queue_error"] == "data_missing"  # the staff screen says why
    finally:
        controller.stop()
    assert not db.parent.exists()


def test_a_clock_known_to_be_wrong_refuses_the_enrollment_before_the_card_is_read(
    tmp_path: Path,
) -> None:
    """Injected clock (never the real one): 2001 is before the kiosk's build."""
    import datetime as dt
    import queue

    from kiosk import flow
    from kiosk.catalog import Catalog
    from kiosk.controller import Controller
    from kiosk.receipt_facts import ReceiptSettings
    from offline_queue.store import Outbox

    built = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    wrong = dt.datetime(2001, 1, 1, tzinfo=dt.UTC)
    controller = Controller(
        catalog=Catalog.load(),
        make_card=lambda on_event: _NoCard(),
        printer=_NoPrinter(),
        open_outbox=lambda: Outbox(
            tmp_path / "q.sqlite3", [CentralSealingKey.generate().public], "K-1", b"g" * 32
        ),
        trusted_cas=[],
        receipt_settings=ReceiptSettings("", "https://x/{receipt_no}"),
        now=lambda: wrong,
        clock_not_before=(built,),
    )
    events: queue.Queue = queue.Queue()
    controller.start(events.put)
    try:
        controller.execute(flow.ReadCertificate(session_id="s1"))
        answer = events.get(timeout=10)
        staff = controller.staff_status().result(timeout=10)
    finally:
        controller.stop()
    assert isinstance(answer, flow.Failed) and answer.kind == "clock_wrong"
    # staff are told on their screen, before anyone asks why applications are refused
    from kiosk.views import staff_figures

    assert staff["clock_problem"] == "clock_before_valid_date"
    assert "wrong" in staff_figures({**staff, "lang": "en"})["clock"]


def test_the_wrong_clock_is_told_in_plain_words_in_every_language() -> None:
    from kiosk.i18n import LANGUAGES, t

    for lang in LANGUAGES:
        assert t("errors.clock_wrong.message", lang), lang
