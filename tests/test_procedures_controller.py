# ruff: noqa: F811  (the rig's fixtures come from tests/test_controller.py, by import)
"""健康保険証の利用申込み with the real parts, without Kivy: pcscd + vpcd and the virtual
card, the real outbox and a sync worker, the reference central service over mutual TLS
with its reference insurer. Every answer, the offline path, the PIN paths, card removal,
the status check listing both procedures, and the APDU log."""

from __future__ import annotations

from typing import Any

import pytest

from drivers import jpki
from kiosk import flow
from offline_queue import policy
from sim.pki import CardIdentity
from sim.rig import KioskUnderTest
from sim.waiting import eventually
from tests.test_controller import central, kiosk, parts, queue_row  # noqa: F401  (fixtures)

pytest_plugins = ["tests.fixtures.card", "tests.fixtures.central", "tests.fixtures.printer"]

pytestmark = pytest.mark.slow  # each test here takes half a second or more

HEALTH = "health_insurance"


def register(kiosk: KioskUnderTest, pin: bytes = b"1234") -> flow.Session:
    kiosk.send(flow.Start(HEALTH), flow.AgreeTerms())
    kiosk.wait_for(flow.CONFIRM, until=lambda s: s.state != flow.READING_CARD)
    kiosk.send(flow.Confirmed())
    kiosk.wait_for(flow.PIN, until=lambda s: s.tries_left is not None)
    kiosk.pin(pin)
    return kiosk.wait_for(flow.RESULT)


def finish(kiosk: KioskUnderTest, card: Any) -> None:
    kiosk.send(flow.Done())
    kiosk.wait_for(flow.TAKE_CARD, timeout=30)
    card.remove()
    kiosk.wait_for(flow.WELCOME)
    card.insert()


def test_registered_printed_then_already_registered_and_the_apdus_are_jpki_only(
    kiosk: KioskUnderTest, central: Any, virtual_card: Any, virtual_printer: Any
) -> None:
    session = register(kiosk)
    assert (session.result, session.procedure) == (flow.RESULT_ACCEPTED, HEALTH)
    # round 2's 健康保険証 campaign closed in 2023: central grants nothing, nothing is promised
    assert (session.points, session.points_reason) == (0, None)
    assert "ポイント" not in kiosk.view()["procedure"]["result_detail"]
    receipt_no = session.receipt_no
    finish(kiosk, virtual_card)
    (printed,) = virtual_printer.wait_for_receipts(1)
    text = "\n".join(printed.text)
    assert receipt_no in text and "健康保険証の利用申込" in text
    assert "ポイントが付与されます" not in text
    selected = {cmd[5:] for cmd, _ in virtual_card.apdu_log if cmd[1:3] == b"\xa4\x04"}
    assert selected == {jpki.JPKI_AID}
    efs = {int.from_bytes(c[5:7], "big") for c, _ in virtual_card.apdu_log if c[1:3] == b"\xa4\x02"}
    assert efs <= jpki.ALLOWED_EFS
    # the same card again here: this kiosk's own queue knows it, before the PIN
    kiosk.send(flow.Start(HEALTH), flow.AgreeTerms())
    assert kiosk.wait_for(flow.ERROR).error_kind == "already_enrolled_here"


def test_registered_elsewhere_is_already_registered(
    kiosk: KioskUnderTest, central: Any, virtual_card: Any
) -> None:
    central.set_insurer(CardIdentity.load(virtual_card.card_dir), "registered")
    session = register(kiosk)
    assert (session.result, session.rejection_kind) == (flow.RESULT_REJECTED, "already_registered")


def test_insurer_not_covered_is_told_with_its_remedy(
    kiosk: KioskUnderTest, central: Any, virtual_card: Any
) -> None:
    central.set_insurer(CardIdentity.load(virtual_card.card_dir), "not_covered")
    session = register(kiosk)
    assert (session.result, session.rejection_kind) == (flow.RESULT_REJECTED, "insurer_not_covered")


def test_a_card_that_applied_for_mynapoint_here_may_still_register(
    kiosk: KioskUnderTest, central: Any, virtual_card: Any
) -> None:
    assert kiosk.enroll(central.new_account("waon")).result == flow.RESULT_ACCEPTED
    finish(kiosk, virtual_card)
    assert register(kiosk).result == flow.RESULT_ACCEPTED
    finish(kiosk, virtual_card)
    # 申込状況の確認 lists both procedures
    kiosk.start_and_place_card(flow.MENU_STATUS)
    kiosk.pin()
    status = kiosk.wait_for(flow.STATUS).status_info
    assert dict(status.procedures) == {
        "mynapoint": "done",
        HEALTH: "done",
        "municipal_points": "none",
    }


def test_municipal_points_granted_are_on_the_screen_and_the_receipt_in_each_language(
    kiosk: KioskUnderTest, central: Any, virtual_card: Any, virtual_printer: Any
) -> None:
    """The demo city's campaign grants 3,000 points: the result says the number central
    answered, written as each language writes numbers, and the paper says it too."""
    serial = format(CardIdentity.load(virtual_card.card_dir).certificate.serial_number, "x")
    central.set_municipal({"eligible": {"demo-municipal-2026": [serial]}})
    kiosk.send(flow.Start("municipal_points"), flow.AgreeTerms())
    kiosk.wait_for(flow.CONFIRM, until=lambda s: s.state != flow.READING_CARD)
    kiosk.send(flow.Confirmed())
    kiosk.wait_for(flow.PIN, until=lambda s: s.tries_left is not None)
    kiosk.pin()
    session = kiosk.wait_for(flow.RESULT)
    assert (session.result, session.points) == (flow.RESULT_ACCEPTED, 3000)
    assert "3,000ポイントが付与されます" in kiosk.view()["procedure"]["result_detail"]
    assert "3.000 điểm" in kiosk.view("vi")["procedure"]["result_detail"]
    assert "३,००० पोइन्ट" in kiosk.view("ne")["procedure"]["result_detail"]
    receipt_no = session.receipt_no
    finish(kiosk, virtual_card)
    (printed,) = virtual_printer.wait_for_receipts(1)
    text = "\n".join(printed.text)
    assert receipt_no in text and "3,000ポイントが付与されます。" in text


def test_central_down_makes_it_pending_and_sync_delivers_it_once(
    parts: Any, central: Any, virtual_card: Any
) -> None:
    kiosk = parts[0]
    central.stop()
    try:
        session = register(kiosk)
        assert session.result == flow.RESULT_PENDING
        enrollment_id = session.enrollment_id
        kiosk.send(flow.Done())
        kiosk.wait_for(flow.TAKE_CARD, timeout=30)
    finally:
        central.start()
    eventually(
        lambda: queue_row(parts, central, enrollment_id).state == policy.ACCEPTED,
        20,
        "the pending registration delivered by sync",
        interval=0.2,
    )


def test_wrong_pin_then_blocked(kiosk: KioskUnderTest, central: Any, virtual_card: Any) -> None:
    kiosk.send(flow.Start(HEALTH), flow.AgreeTerms())
    kiosk.wait_for(flow.CONFIRM, until=lambda s: s.state != flow.READING_CARD)
    kiosk.send(flow.Confirmed())
    for tries_left in (2, 1):
        kiosk.wait_for(flow.PIN, until=lambda s: s.tries_left is not None)
        kiosk.pin(b"9999")
        kiosk.wait_for(flow.PIN, until=lambda s, n=tries_left: s.tries_left == n)
    kiosk.pin(b"9999")
    assert kiosk.wait_for(flow.ERROR).error_kind == "pin_blocked"


def test_card_removed_at_confirm_ends_and_stores_nothing(
    parts: Any, central: Any, virtual_card: Any
) -> None:
    kiosk, db, guard = parts
    kiosk.send(flow.Start(HEALTH), flow.AgreeTerms())
    kiosk.wait_for(flow.CONFIRM, until=lambda s: s.state != flow.READING_CARD)
    virtual_card.remove()
    assert kiosk.wait_for(flow.WELCOME).notice == flow.END_CARD_REMOVED
    from offline_queue.store import Outbox

    with Outbox(db, [central.sealing_key], central.kiosk_id, guard) as outbox:
        assert sum(outbox.status().counts.values()) == 0
