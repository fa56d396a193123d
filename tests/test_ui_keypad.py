"""A physical keypad runs the whole flow on the real window (Xvfb), no touch at all.

Keys go in as SDL delivers them (``Window.on_key_down`` with Kivy's key numbers, the
numeric keypad's own digits); the kiosk turns them into presses of the buttons a touch
would press (``kiosk/keypad.py``, ``screens/keys.py``).
"""

from __future__ import annotations

from typing import Any

import pytest

from sim.demo import DEMO_PIN

pytest_plugins = ["tests.fixtures.card", "tests.fixtures.screen"]

pytestmark = pytest.mark.slow

ENTER, CLEAR, DOWN, HASH = 271, 8, 274, 35


def keypad_enrollment(account: tuple[str, str, list[str]]) -> list[list[Any]]:
    service, user_id, codes = account
    steps: list[list[Any]] = [
        ["wait", "welcome"],
        ["key", ENTER],  # the main button: start the application
        ["wait", "notes"],
        ["flags", "notes"],
        ["key_to", "representative"],  # the legal-representative path is one key away
        ["shot", "k02_notes_focus"],
        ["key_to", "self"],
        ["key", ENTER],
        ["key_to", "agree"],
        ["key", ENTER],  # agree and continue
        ["wait", "place_card"],
        ["hook", "insert_card", "card"],
        ["wait", "choose_service", 30],
        ["key_to", f"service:{service}"],  # list navigation with down
        ["shot", "k05_choose_service_focus"],
        ["key", ENTER],
        ["wait", "enter_ids"],
        ["keys", user_id[:-1] + "0"],
        ["key", CLEAR],  # Clear takes back the last digit
        ["keys", user_id[-1]],
        ["shot", "k06_enter_ids"],
        ["key", ENTER],
    ]
    for code in codes:
        steps += [["keys", code], ["key", ENTER]]
    steps += [
        ["wait", "confirm"],
        ["key", ENTER],
        ["wait", "pin"],
        ["keys", DEMO_PIN],
        ["key", ENTER],
        ["wait", "result", 40],
        ["shot", "k11_result"],
        ["key", ENTER],
        ["wait", "take_card", 40],
        ["hook", "remove_card", "card"],
        ["wait", "welcome"],
    ]
    return steps


def test_whole_enrollment_with_the_keypad_only(run_kiosk_ui, ui_central) -> None:
    account = ui_central.new_account("waon")
    report = run_kiosk_ui(keypad_enrollment(account), name="keypad-enrollment")
    assert report["error"] is None, report["error"]
    assert "result" in report["screens_seen"]
    # the keypad turned on the longer time limits itself, without large text (issue 10)
    assert report["flags"]["notes"]["longer_times"] and not report["flags"]["notes"]["assist"]
    (receipt,) = report["receipts"]
    assert account[1][-4:] in "\n".join(receipt["text"])


def test_keypad_unplugged_mid_session_loses_nothing_and_touch_goes_on(
    run_kiosk_ui, ui_central
) -> None:
    """Keys up to the ID, then no key ever again (the keypad is gone): touch finishes."""
    service, user_id, codes = ui_central.new_account("waon")
    script: list[list[Any]] = [
        ["wait", "welcome"],
        ["key", HASH],  # large text on, by key
        ["key", ENTER],
        ["wait", "notes"],
        ["key", ENTER],
        ["wait", "place_card"],
        ["hook", "insert_card", "card"],
        ["wait", "choose_service", 30],
        ["key_to", f"service:{service}"],
        ["key", ENTER],
        ["wait", "enter_ids"],
        ["keys", user_id[:8]],
        # unplugged: from here on, only touches
        ["type", user_id[8:]],
        ["tap", "next"],
        ["type", codes[0]],
        ["tap", "next"],
        ["wait", "confirm"],
        ["shot", "k08_confirm_large_text"],
        ["tap", "confirm"],
        ["wait", "pin"],
        ["pin", DEMO_PIN],
        ["wait", "result", 40],
        ["tap", "done"],
        ["wait", "take_card", 40],
        ["hook", "remove_card", "card"],
        ["wait", "welcome"],
    ]
    report = run_kiosk_ui(script, name="keypad-unplugged")
    assert report["error"] is None, report["error"]
    (receipt,) = report["receipts"]
    assert user_id[-4:] in "\n".join(receipt["text"])  # the ID typed half by key, half by touch
