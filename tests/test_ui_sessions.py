"""What a person meets at the kiosk window when things go wrong, and how sessions end.

Each test runs the real kiosk (Kivy on Xvfb, real controller, pcscd + vpcd with the
virtual card, the virtual printer, the reference central service, the sync worker) in
a subprocess, touched through Kivy's input path by a script; screenshots of every
screen are kept under ``artifacts/ui/<test name>/``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from kiosk.i18n import t
from offline_queue import policy
from sim.demo import (
    choose_and_enter,
    confirm_and_pin,
    enrollment_script,
    finish_and_take_card,
    start_and_place_card,
)
from sim.enrollments import central_client, quick_worker
from sim.waiting import eventually
from tests.fixtures.central import start_central
from tests.fixtures.screen import central_description

pytest_plugins = ["tests.fixtures.card", "tests.fixtures.screen"]

pytestmark = pytest.mark.slow  # each test here takes half a second or more


def ok(report: dict[str, Any]) -> dict[str, Any]:
    assert report["error"] is None, report["error"]
    return report


def texts_everywhere(report: dict[str, Any], label: str) -> str:
    """Every text of every widget of every screen ever loaded, at dump ``label``."""
    return json.dumps(report["dumps"][label], ensure_ascii=False)


def error_title(kind: str, lang: str = "ja") -> str:
    return t(f"errors.{kind}.title", lang)


# --- PIN and card -------------------------------------------------------------------------
def test_wrong_pin_then_right_pin_is_accepted(run_kiosk_ui, ui_central) -> None:
    account = ui_central.new_account("waon")
    script = (
        start_and_place_card(shots=False)
        + choose_and_enter(account, shots=False)
        + confirm_and_pin("9999", shots=False)
        + [
            ["wait", "pin"],
            ["expect", t("screens.pin.wrong")],
            ["expect", t("screens.pin.tries_left", tries=2)],
            ["shot", "09b_pin_wrong"],
            ["pin", "1234"],
        ]
        + finish_and_take_card(shots=False)
    )
    report = ok(run_kiosk_ui(script))
    assert report["screens_seen"].count("pin") == 2 and "result" in report["screens_seen"]
    assert len(report["receipts"]) == 1


def test_three_wrong_pins_block_the_card_with_the_office_remedy(run_kiosk_ui, ui_central) -> None:
    account = ui_central.new_account("waon")
    script = start_and_place_card(shots=False) + choose_and_enter(account, shots=False)
    script += confirm_and_pin("9999", shots=False)
    script += [["wait", "pin"], ["pin", "9999"], ["wait", "pin"]]
    script += [["expect", t("screens.pin.last_try")], ["shot", "09c_pin_last_try"], ["pin", "9999"]]
    script += [["wait", "error"], ["expect", error_title("pin_blocked")], ["shot", "14_error"]]
    ok(run_kiosk_ui(script))


def test_blocked_card_is_refused_as_soon_as_it_is_read(run_kiosk_ui, ui_central) -> None:
    account = ui_central.new_account("waon")
    block = start_and_place_card(shots=False) + choose_and_enter(account, shots=False)
    block += confirm_and_pin("9999", shots=False)
    block += [["wait", "pin"], ["pin", "9999"], ["wait", "pin"], ["pin", "9999"], ["wait", "error"]]
    block += [["tap", "done"], ["wait", "take_card"], ["hook", "remove_card", "card"]]
    again = start_and_place_card(shots=False)[:-1]  # the grid is never reached
    again += [["wait", "error", 30], ["expect", error_title("pin_blocked")]]
    ok(run_kiosk_ui(block + again))


def test_expired_certificate_is_told_with_its_remedy(run_kiosk_ui) -> None:
    script = start_and_place_card(shots=False)[:-1] + [
        ["wait", "error", 30],
        ["expect", error_title("certificate_expired")],
        ["expect", t("errors.certificate_expired.remedy")],
    ]
    ok(run_kiosk_ui(script, cards={"card": {"expired": True}}))


# --- sessions end hard ------------------------------------------------------------------------
def test_card_removed_in_the_middle_leaves_no_trace_for_the_next_person(
    run_kiosk_ui, ui_central
) -> None:
    service, user_id, codes = ui_central.new_account("waon")
    first = start_and_place_card(shots=False) + choose_and_enter((service, user_id, codes), False)
    first += [["hook", "remove_card", "card"], ["wait", "welcome"], ["dump", "after_removal"]]
    first += [["expect", t("screens.notice.card_removed")]]
    # the next person: a new card, walks to the ID entry and the PIN
    second = start_and_place_card("next", shots=False) + [
        ["tap", f"service:{service}"],
        ["wait", "enter_ids"],
        ["dump", "next_person_entry"],
    ]
    report = ok(run_kiosk_ui(first + second, cards={"card": {}, "next": {}}))
    for label in ("after_removal", "next_person_entry"):
        everything = texts_everywhere(report, label)
        masked = "*" * (len(user_id) - 4) + user_id[-4:]  # as the confirm screen shows it
        assert user_id not in everything and masked not in everything
        assert codes[0] not in everything


def test_idle_timeout_ends_the_session_and_wipes_what_was_typed(run_kiosk_ui, ui_central) -> None:
    service, user_id, _ = ui_central.new_account("waon")
    script = (
        start_and_place_card(shots=False)
        + [
            ["tap", f"service:{service}"],
            ["wait", "enter_ids"],
            ["type", user_id[:8]],
            ["sleep", 8],  # typing is activity: these touches restart the idle time
            ["type", user_id[8:]],
            ["sleep", 11.5],
            ["shot", "15_idle_countdown"],
            ["dump", "countdown"],
            ["wait", "take_card", 20],
            ["expect", t("screens.notice.idle_timeout")],
            ["dump", "after_timeout"],
            ["hook", "remove_card", "card"],
            ["wait", "welcome"],
        ]
    )
    report = ok(run_kiosk_ui(script, idle_timeout_seconds=15, countdown_seconds=5))
    countdown_words = t("screens.common.countdown", seconds=0).split("0")[0]
    assert countdown_words in texts_everywhere(report, "countdown")
    assert user_id in texts_everywhere(report, "countdown"), "typing did not keep it alive"
    assert user_id not in texts_everywhere(report, "after_timeout")


def test_card_left_in_the_reader_gets_a_visible_cue(run_kiosk_ui) -> None:
    script = start_and_place_card(shots=False) + [
        ["tap", "cancel"],
        ["wait", "take_card"],
        ["sleep", 6],
        ["expect", t("screens.take_card.left_behind")],
        ["shot", "13b_card_left_behind"],
    ]
    ok(run_kiosk_ui(script))


# --- services and accounts -------------------------------------------------------------------
def test_app_only_service_is_refused_with_its_message(run_kiosk_ui) -> None:
    """At the smallest screen (800x480); then Kyash, whose prerequisite shows on entry."""
    script = start_and_place_card(shots=False) + [
        ["tap", "service:rakuten_pay"],
        ["expect", error_title("service_app_only")],
        ["shot", "05c_app_only_refused"],
        ["tap", "category:debit_prepaid"],  # still the grid: the refusal did not move on
        ["gone", "service:rakuten_pay"],  # the grid refilled (a code payment is not in it)
        ["tap", "service:kyash"],
        ["wait", "enter_ids"],
        ["dump", "notice_ja"],
        ["shot", "06c_enter_ids_notice"],
        ["tap", "lang"],
        ["tap", "lang:en"],  # the picker of the 13 languages
        ["expect", t("screens.common.next", "en")],
        ["dump", "notice_en"],
        ["shot", "06d_enter_ids_notice_english"],
    ]
    report = ok(run_kiosk_ui(script, size=(800, 480)))
    seen = report["screens_seen"]
    assert seen[seen.index("enter_ids") - 1] == "choose_service"
    for lang in ("ja", "en"):  # a label's whole text (the view's JSON only holds it inside)
        shown = report["dumps"][f"notice_{lang}"]["enter_ids"]
        assert t("services.notice.kyash_member_first", lang) in shown


def test_payment_account_already_linked_to_another_person_is_rejected(
    run_kiosk_ui, ui_central
) -> None:
    account = ui_central.new_account("waon")
    script = enrollment_script(account, shots=False)
    script += start_and_place_card("other", shots=False) + choose_and_enter(account, False)
    script += confirm_and_pin(shots=False) + [
        ["wait", "result", 40],
        ["expect", t("screens.result.rejected")],
        ["expect", t("errors.account_already_linked.message")],
        ["shot", "11b_result_rejected"],
    ]
    ok(run_kiosk_ui(script, cards={"card": {}, "other": {}}))


def test_language_switch_mid_flow_keeps_what_was_typed(run_kiosk_ui, ui_central) -> None:
    account = ui_central.new_account("waon")
    service, user_id, codes = account
    script = start_and_place_card(shots=False) + [
        ["tap", f"service:{service}"],
        ["wait", "enter_ids"],
        ["type", user_id],
        ["tap", "lang"],
        ["tap", "lang:en"],  # the picker of the 13 languages
        ["expect", t("screens.common.next", "en")],
        ["expect", user_id],
        ["shot", "06b_enter_ids_english"],
        ["tap", "next"],
        ["type", codes[0]],
        ["tap", "next"],
        ["wait", "confirm"],
    ]
    script += confirm_and_pin(shots=False) + finish_and_take_card(shots=False)
    report = ok(run_kiosk_ui(script))
    (receipt,) = report["receipts"]
    assert t("receipt.title", "en") in "\n".join(receipt["text"])


def test_printer_out_of_paper_shows_the_receipt_on_screen(run_kiosk_ui, ui_central) -> None:
    account = ui_central.new_account("waon")
    script = [["hook", "paper", "out"]]
    script += start_and_place_card(shots=False) + choose_and_enter(account, shots=False)
    script += confirm_and_pin(shots=False) + [
        ["wait", "result", 40],
        ["tap", "done"],
        ["wait", "receipt"],
        ["expect", t("screens.receipt.on_screen")],
        ["shot", "12_receipt_on_screen"],
        ["tap", "done"],
        ["wait", "take_card"],
    ]
    report = ok(run_kiosk_ui(script))
    assert report["receipts"] == []
    assert (Path(report["out_dir"]) / "12_receipt_on_screen.png").stat().st_size > 10_000


# --- offline ------------------------------------------------------------------------------------
def test_central_down_makes_it_pending_and_sync_delivers_it_later(
    run_kiosk_ui, tmp_path, test_pki
) -> None:
    from kiosk.catalog import CAMPAIGNS_FILE, SERVICES_FILE
    from offline_queue.store import Outbox

    central = start_central(
        tmp_path, pki=test_pki, services_file=SERVICES_FILE, campaigns_file=CAMPAIGNS_FILE
    )
    try:
        account = central.new_account("waon")
        described = central_description(central, tmp_path)
        central.stop()
        script = start_and_place_card(shots=False) + choose_and_enter(account, False)
        script += confirm_and_pin(shots=False) + [
            ["wait", "result", 40],
            ["expect", t("screens.result.pending")],
            ["shot", "11c_result_pending"],
        ]
        report = ok(run_kiosk_ui(script, central=described))
        central.start()
        db = Path(report["work_dir"]) / "queue.sqlite3"
        worker = quick_worker(db, central_client(central), idle_poll_s=0.2)
        guard = (Path(report["work_dir"]) / "guard.secret").read_bytes()

        def delivered() -> int:
            worker.run_once()
            with Outbox(db, [central.sealing_key], central.kiosk_id, guard) as outbox:
                return outbox.status().counts.get(policy.ACCEPTED, 0)

        eventually(delivered, 30, "the pending enrollment delivered by sync", interval=0.3)
        worker.close()
    finally:
        central.stop()


# --- 法定代理人 ------------------------------------------------------------------------------
def test_legal_representative_application_is_confirmed_and_printed(
    run_kiosk_ui, ui_central
) -> None:
    account = ui_central.new_account("waon")
    script = [
        ["wait", "welcome"],
        ["tap", "start_apply"],
        ["wait", "notes"],
        ["tap", "representative"],
        ["tap", "agree"],
        ["wait", "place_card"],
        ["hook", "insert_card", "card"],
        ["wait", "choose_service", 30],
    ]
    script += choose_and_enter(account, shots=False) + [
        ["expect", t("screens.confirm.for_child")],
        ["shot", "08b_confirm_legal_representative"],
    ]
    script += confirm_and_pin(shots=False) + finish_and_take_card(shots=False)
    report = ok(run_kiosk_ui(script))
    (receipt,) = report["receipts"]
    assert t("receipt.legal_representative") in "\n".join(receipt["text"])
