"""The staff screen on the real kiosk window, with the printer busy printing a receipt.

The staff screen shows the queue and the devices; the printer answers a status query
only after the receipt it is printing, so the figures must come as an event: the
window never waits for them (docs/ui.md, "Threads").
"""

from __future__ import annotations

from typing import Any

import pytest

from kiosk.controller import STATUS_TIMEOUT_S
from kiosk.i18n import t
from kiosk.staff import MAX_WRONG

pytest_plugins = ["tests.fixtures.card", "tests.fixtures.screen"]

pytestmark = pytest.mark.slow  # each test here takes half a second or more

#: A window that waited for the busy printer's status would draw nothing until the status
#: timed out (STATUS_TIMEOUT_S, 5 s). Half of that tells the two apart on a loaded CI machine,
#: where a healthy window has been seen to miss frames for just over a second (CI, stop 17).
MAX_FRAME_GAP_S = STATUS_TIMEOUT_S / 2
STAFF_PIN = "2580"


def open_staff_screen() -> list[list[Any]]:
    """Five taps on the store name, then the staff PIN (not yet confirmed)."""
    return [
        *[["tap", "brand"] for _ in range(5)],
        ["wait", "staff"],
        ["pin", STAFF_PIN, False],
    ]


def test_the_window_keeps_drawing_while_a_busy_printer_owes_the_staff_screen_its_status(
    run_kiosk_ui,
) -> None:
    no_enrollments_yet = t("screens.staff.queue", "ja", pending=0, delivered=0, failed=0)
    script = [
        ["wait", "welcome"],
        *open_staff_screen(),
        ["tap", "staff_pin_ok"],
        ["expect", t("screens.staff.test_print")],
        ["hook", "printer_busy"],  # the test receipt prints, and is not done until freed
        ["tap", "staff_test_print"],
        ["tap", "staff_close"],
        ["wait", "welcome"],
        *open_staff_screen(),
        ["frames", "printer_busy", 4],
        ["tap", "staff_pin_ok"],
        ["frames_done", "printer_busy"],
        ["expect", no_enrollments_yet],  # the figures came while the printer was busy
        ["hook", "printer_free"],
        ["tap", "staff_close"],
        ["wait", "welcome"],
    ]
    report = run_kiosk_ui(script, cards={}, printer_line=True)
    assert report["error"] is None, report["error"]
    gap = report["frame_gaps"]["printer_busy"]
    assert gap < MAX_FRAME_GAP_S, f"the window drew nothing for {gap:.1f} s"
    (test_receipt,) = report["receipts"]
    assert "TEST-0000" in "\n".join(test_receipt["text"])  # printed once the printer was free


def test_five_wrong_staff_pins_lock_the_staff_screen_even_against_the_right_one(
    run_kiosk_ui,
) -> None:
    """Anyone at the kiosk can try the staff PIN: after five wrong ones in a row the screen
    says it is locked, and the right PIN does not open it (kiosk/staff.py)."""
    script = [
        ["wait", "welcome"],
        *[["tap", "brand"] for _ in range(5)],
        ["wait", "staff"],
    ]
    for _ in range(MAX_WRONG - 1):
        script += [["pin", "0000", False], ["tap", "staff_pin_ok"]]
        script += [["expect", t("screens.staff.wrong_pin")]]
    script += [
        ["pin", "0000", False],
        ["tap", "staff_pin_ok"],
        ["expect", t("screens.staff.locked_pin")],
        ["pin", STAFF_PIN, False],
        ["tap", "staff_pin_ok"],
        ["expect", t("screens.staff.locked_pin")],
        ["dump", "after_the_right_pin"],
        ["shot", "17c_staff_locked"],
        ["tap", "staff_close"],
        ["wait", "welcome"],
    ]
    report = run_kiosk_ui(script, cards={})
    assert report["error"] is None, report["error"]
    # still asking for the PIN: unlocked, that line would show the queue's figures
    assert t("screens.staff.enter_pin") in report["dumps"]["after_the_right_pin"]["staff"]


def test_staff_can_send_refusals_of_the_set_up_again_from_the_staff_screen(run_kiosk_ui) -> None:
    """The staff screen's resend button (issue 12, finding 8): rows refused for a reason of
    the central service's set-up go back to the queue, and the screen says how many (none
    here: the store and worker test, tests/test_central_operator_mistakes.py, has rows)."""
    script = [
        ["wait", "welcome"],
        *open_staff_screen(),
        ["tap", "staff_pin_ok"],
        ["expect", t("screens.staff.resend_refused")],
        # the figures came: the clock and storage lines (issue 15) fit the smallest screen
        ["expect", t("screens.staff.clock", status=t("screens.staff.clock_ok"))],
        ["overflow", "staff"],
        ["shot", "17d_staff_figures"],
        ["tap", "staff_resend_refused"],
        ["expect", t("screens.staff.resent", "ja", count=0)],
        ["tap", "staff_close"],
        ["wait", "welcome"],
    ]
    report = run_kiosk_ui(script, cards={}, size=(800, 480))
    assert report["error"] is None, report["error"]
    assert report["overflow"]["staff"] == []
