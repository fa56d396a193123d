"""Spoken guidance and sound cues on the real kiosk window (Xvfb), with the real engines.

A whole enrollment with 音声案内 on: every screen's words go to the speaker (rendered by
Open JTalk for Japanese), the PIN screen says how many digits were typed, touches click
and a refused PIN sounds the error tone. No string sent to the speaker ever holds the
PIN, the 決済サービスID (nor its last four digits) or the セキュリティコード. With the voice
file missing the kiosk still runs the enrollment, silently, and the staff screen says so.
"""

from __future__ import annotations

from typing import Any

import pytest

from kiosk.i18n import t
from sim.demo import DEMO_PIN, choose_and_enter, finish_and_take_card, start_and_place_card

pytest_plugins = ["tests.fixtures.card", "tests.fixtures.screen"]

pytestmark = pytest.mark.slow  # each test here runs the kiosk window
STAFF_PIN = "2580"
WRONG_PIN = "9876"


def read_back_twice(user_id: str) -> list[list[Any]]:
    """At the ID entry: read-back on the loudspeaker (refused), then in handset mode."""
    return [
        ["wait", "enter_ids"],
        ["type", user_id],
        ["tap", "speech_menu"],
        ["tap", "read_back"],
        ["tap", "handset_toggle"],
        ["tap", "read_back"],
        ["tap", "handset_toggle"],
        ["tap", "speech_menu"],
    ]


def in_handset(action: str) -> list[list[Any]]:
    """Handset mode on, ``action`` from the speech bar, handset mode off."""
    return [
        ["tap", "speech_menu"],
        ["tap", "handset_toggle"],
        ["tap", action],
        ["tap", "handset_toggle"],
        ["tap", "speech_menu"],
    ]


def enrollment_with_speech_controls(account: tuple[str, str, list[str]]) -> list[list[Any]]:
    """An enrollment with a wrong PIN first, the speech bar used on the way."""
    service, user_id, codes = account
    enter = choose_and_enter(account, shots=False)
    return [
        *start_and_place_card(shots=False),
        ["tap", "speech_menu"],
        ["shot", "speech_bar_open"],
        ["tap", "speech_slower"],
        ["tap", "speech_repeat"],
        ["tap", "speech_louder"],
        ["tap", "speech_menu"],
        enter[0],  # the service
        *read_back_twice(user_id),
        *enter[3:5],  # next, the first code
        *in_handset("read_back"),  # a code is never read back: its count is said
        *enter[5:],  # next (and any other code), the confirm screen
        *in_handset("read_back"),  # the ID as entered, before applying (issue 10)
        ["tap", "confirm"],
        ["wait", "pin"],
        ["pin", WRONG_PIN],
        ["expect", t("screens.pin.wrong")],
        ["pin", DEMO_PIN],
        *finish_and_take_card(shots=False),
    ]


def test_every_screen_speaks_and_no_spoken_string_holds_a_pin_an_id_or_a_code(
    run_kiosk_ui, ui_central
) -> None:
    account = ui_central.new_account("waon")
    service, user_id, codes = account
    report = run_kiosk_ui(
        enrollment_with_speech_controls(account), speech={"enabled": True, "prebuild": False}
    )
    assert report["error"] is None, report["error"]
    spoken = report["spoken"]
    for line in (
        t("screens.welcome.title"),
        t("screens.place_card.title"),
        t("screens.pin.title"),
        t("speech.digit_entered", count=1),
        t("speech.digits_entered", count=3),
        t("screens.pin.wrong"),
        t("screens.result.accepted"),
        t("screens.take_card.thanks"),
        t("speech.slower"),
        t("speech.louder"),
        t("speech.read_back_handset_only"),
        t("speech.handset_on"),
        t("speech.handset_off"),
    ):
        assert line in spoken, f"never said {line!r}; said {spoken}"
    # read back in handset mode at the ID entry and on the confirm screen, never the code
    assert report["read_backs"] == [len(user_id), len(user_id)]
    secrets = [DEMO_PIN, WRONG_PIN, user_id, user_id[-4:], *codes]
    for text in spoken:
        for secret in secrets:
            assert secret not in text, f"{text!r} holds a secret"
    cues = report["cues"]
    assert cues.count("accept") >= 10 and "error" in cues


def brightest(png: str) -> int:
    from PIL import Image

    with Image.open(png) as image:
        return max(image.convert("L").getextrema())


def test_without_its_voice_the_kiosk_enrolls_silently_and_the_staff_screen_says_so(
    run_kiosk_ui, ui_central, tmp_path
) -> None:
    account = ui_central.new_account("waon")
    no_voice = tmp_path / "no-voices"
    no_voice.mkdir()
    staff_line = t("speech.staff.line", status=t("speech.staff.no_voice", missing=""))
    script = [
        ["wait", "welcome"],
        *[["tap", "brand"] for _ in range(5)],
        ["wait", "staff"],
        ["pin", STAFF_PIN, False],
        ["tap", "staff_pin_ok"],
        ["expect", staff_line.split("（")[0]],
        ["expect", "mei_normal.htsvoice"],
        ["shot", "17b_staff_no_voice"],
        ["tap", "staff_close"],
        ["wait", "welcome"],
        ["tap", "speech_menu"],
        ["tap", "handset_toggle"],  # handset mode with blank_screen_in_handset
        ["shot", "handset_privacy"],
        ["tap", "handset_toggle"],
        ["tap", "speech_menu"],
        ["shot", "handset_off"],
        *start_and_place_card(shots=False),
        *choose_and_enter(account, shots=False),
        ["tap", "confirm"],
        ["wait", "pin"],
        ["pin", DEMO_PIN],
        *finish_and_take_card(shots=False),
    ]
    report = run_kiosk_ui(
        script,
        speech={"enabled": True, "prebuild": False, "voice_dir": str(no_voice),
                "blank_screen_in_handset": True},
    )
    assert report["error"] is None, report["error"]
    assert "result" in report["screens_seen"]
    assert brightest(report["shots"]["handset_privacy"]) < 16  # dark for privacy
    assert brightest(report["shots"]["handset_off"]) > 200  # and back
    assert t("screens.welcome.title") in report["spoken"]  # sent, though nothing could say it


def test_headphones_left_plugged_in_keep_the_longer_limits_for_the_next_session(
    run_kiosk_ui, tmp_path
) -> None:
    """A blind person plugs in the handset and starts; the session ends (cancel) and the
    next one begins with the headphones still in: its time limits are the longer ones too
    (before, only a plug change sent them, so the second session had the short ones)."""
    jack = tmp_path / "jack"
    jack.write_text("HEADPHONE=1\n", encoding="utf-8")  # as extcon's state reads, plugged
    no_voice = tmp_path / "no-voices"
    no_voice.mkdir()
    script = [
        ["wait", "welcome"],
        ["flag", "longer_times"],  # the jack read on the app's tick: handset mode
        *start_and_place_card(shots=False),
        ["tap", "cancel"],
        ["wait", "take_card"],
        ["hook", "remove_card", "card"],
        ["wait", "welcome"],
        ["flag", "longer_times"],  # the next session, headphones still in
        ["flags", "second_session"],
    ]
    report = run_kiosk_ui(
        script,
        speech={"enabled": True, "prebuild": False, "voice_dir": str(no_voice),
                "jack_state_file": str(jack)},
    )
    assert report["error"] is None, report["error"]
    assert report["flags"]["second_session"]["longer_times"]
