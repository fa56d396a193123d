"""What the kiosk says (kiosk/speech.py): every screen's words, no secret ever, the
controls, the handset route. Pure: no engine, no audio device (see test_voice.py)."""

from __future__ import annotations

import datetime as dt
import re
import time

import pytest

from kiosk import flow, i18n, speech
from kiosk.catalog import Catalog
from kiosk.session import UiSession

USER_ID, CODE, PIN = "9876543210123456", "4321", "1357"
THIRTEEN = ("ja", "ja-x-easy", "en", "zh-Hans", "zh-Hant", "ko", "vi", "pt-BR", "es", "fil",
            "ne", "id", "th")


class ScreensStandIn:
    def __init__(self) -> None:
        self.said: list[str] = []

    def show(self, name: str, view: dict) -> None:
        self.said += speech.lines_for({**view, "state": name})

    def wipe_screens(self) -> None:
        pass

    def cue_card_left_behind(self) -> None:
        pass


@pytest.fixture
def engine() -> UiSession:
    catalog = Catalog.load()
    engine = UiSession(
        lambda: flow.FlowContext(
            kiosk_id="K-1", catalog=catalog, now=time.monotonic(), today=dt.date(2026, 6, 1)
        )
    )
    engine.app = ScreensStandIn()
    return engine


def test_every_screen_says_its_title_first_in_both_languages() -> None:
    for lang in ("ja", "en"):
        assert speech.lines_for({"state": "welcome", "lang": lang})[0] == i18n.t(
            "screens.welcome.title", lang
        )
        for state in flow.STATES:
            lines = speech.lines_for({"state": state, "lang": lang})
            assert lines and all(lines), state


def test_a_screen_says_what_can_be_done_next() -> None:
    lines = speech.lines_for({"state": "confirm", "lang": "en", "service": {"name": "WAON"}})
    apply, fix = i18n.t("screens.confirm.apply", "en"), i18n.t("screens.confirm.fix", "en")
    assert lines[-1] == f"You can choose: {apply}, {fix}"
    assert any("WAON" in line for line in lines)


def test_a_whole_session_never_says_the_pin_the_id_or_the_code(engine: UiSession) -> None:
    engine.person("start", menu="apply")
    engine.person("agree_terms")
    engine.dispatch(flow.CardPlaced())
    engine.dispatch(flow.CertificateRead(b"\x30\x82\x01\x00" + b"C" * 256, 3))
    engine.person("service_chosen", code="waon")
    engine.person("ids_entered", service_user_id=USER_ID, security_codes=(CODE,))
    engine.person("confirmed")
    engine.person("pin_entered", pin=bytearray(PIN.encode()))
    said = engine.app.said
    assert i18n.t("screens.confirm.title") in said and i18n.t("screens.pin.title") in said
    for line in said:
        for secret in (USER_ID, USER_ID[-4:], CODE, PIN):
            assert secret not in line, line


def test_no_prompt_of_any_language_holds_a_run_of_digits_but_a_date() -> None:
    """Every cached line, the procedure menu's too: a date or a grouped amount of points
    ("7,500", "7.500", "7 500") is no ID; any other run of three digits could be one."""
    catalog = Catalog.load()
    for lang in i18n.LANGUAGES:
        for line in speech.prompt_lines(catalog, lang):
            without_dates = re.sub(r"\d{4}-\d{2}-\d{2}", "", line)
            without_amounts = re.sub(
                r"(?<!\d)\d{1,3}(?:[,. \u00a0]\d{3})+(?!\d)", "", without_dates
            )
            assert not re.search(r"\d{3,}", without_amounts), (lang, line)


def test_the_procedure_menu_and_its_screens_are_in_the_prompt_cache() -> None:
    """Speech starts from the cache on the 行政サービス menu too (issue 10: within 200 ms):
    every line of the menu, an info page and a signed consent, as the flow and the views
    build them, is among the prompts rendered at first start."""
    from kiosk import procedures, views
    from tests.test_flow import Kiosk

    catalog, registry = Catalog.load(), procedures.default()
    for lang in ("ja", "ja-x-easy", "fil"):  # Japanese voice, a slower one, a fallback one
        cached = set(speech.prompt_lines(catalog, lang))
        kiosk = Kiosk(catalog, procedures=registry)
        kiosk.send(flow.ChooseLanguage(lang), flow.Start(flow.MENU_SERVICES))
        shown = [views.view_of(kiosk.session, kiosk.ctx())]
        for p in registry.menu():
            start = Kiosk(catalog, procedures=registry)
            start.send(
                flow.ChooseLanguage(lang), flow.Start(flow.MENU_SERVICES), flow.Start(p.start)
            )
            shown.append(views.view_of(start.session, start.ctx()))
        states = {v["state"] for v in shown}
        assert {"menu", "procedure_info", "notes"} <= states
        for view in shown:
            missing = [line for line in speech.lines_for(view) if line not in cached]
            assert not missing, (lang, view["state"], missing)


def test_the_pin_screen_says_how_many_digits_never_which() -> None:
    assert speech.digits_entered(1, "en") == "1 digit entered"
    assert speech.digits_entered(3, "ja") == "3けた入力しました"


def test_a_read_back_is_one_clip_per_character() -> None:
    assert speech.character_by_character("A1 2-", "en") == ["A", "1", "space", "2", "dash"]


def test_every_one_of_the_thirteen_languages_has_a_voice() -> None:
    assert set(THIRTEEN) <= set(speech.VOICES)
    assert set(i18n.LANGUAGES) <= set(speech.VOICES)
    assert speech.voice_for("ja-x-easy").engine == speech.ENGINE_JTALK
    assert speech.voice_for("fil").fallback and speech.voice_for("fil").speak_as == "en"
    with pytest.raises(ValueError, match="xx"):
        speech.voice_for("xx")


def test_volume_steps_are_at_most_10_db_and_stay_in_range() -> None:
    settings = speech.SpeechSettings()
    levels = [settings.volume_db]
    while settings.louder():
        levels.append(settings.volume_db)
    while settings.quieter():
        levels.append(settings.volume_db)
    steps = [abs(b - a) for a, b in zip(levels, levels[1:], strict=False)]
    assert steps and max(steps) <= 10
    assert min(levels) == speech.VOLUME_MIN_DB and max(levels) == speech.VOLUME_MAX_DB
    assert settings.gain == pytest.approx(10 ** (speech.VOLUME_MIN_DB / 20))


def test_speed_steps_slower_and_faster_within_bounds() -> None:
    settings = speech.SpeechSettings()
    assert settings.slower() and settings.rate < 1.0
    while settings.slower():
        pass
    assert settings.rate == min(speech.RATES) and not settings.slower()
    while settings.faster():
        pass
    assert settings.rate == max(speech.RATES)


def test_the_handset_key_toggles_and_headphones_route_to_the_handset() -> None:
    route = speech.AudioRoute(blank_in_handset=True)
    assert route.output == speech.OUTPUT_SPEAKER and not route.blank_screen
    assert route.toggle_key() and route.output == speech.OUTPUT_HANDSET and route.blank_screen
    assert route.toggle_key() and route.output == speech.OUTPUT_SPEAKER
    assert route.jack(True) and route.output == speech.OUTPUT_HANDSET
    assert not route.jack(True)  # the same state again is no change
    route.session_ended()
    assert route.output == speech.OUTPUT_HANDSET  # still plugged in
    assert route.jack(False) and route.output == speech.OUTPUT_SPEAKER
    assert route.changes == ["handset", "speaker", "handset", "speaker"]


def test_a_new_session_starts_on_the_loudspeaker_after_the_handset_key() -> None:
    route = speech.AudioRoute()
    route.toggle_key()
    route.session_ended()
    assert route.output == speech.OUTPUT_SPEAKER


def test_the_screen_is_blanked_in_handset_mode_only_when_configured() -> None:
    route = speech.AudioRoute(blank_in_handset=False)
    route.toggle_key()
    assert route.handset and not route.blank_screen


@pytest.mark.parametrize(
    ("text", "pattern", "plugged"),
    [
        ("HEADPHONE=1\n", "", True),
        ("HEADPHONE=0\n", "", False),
        ("1\n", "", True),
        ("0\n", "", False),
        ("Headphone Jack: plugged", "", True),
        ("  : values=on", "", True),
        ("  : values=off", "", False),
        ("jack=in", r"jack=in", True),
    ],
)
def test_the_jack_state_file_is_read_as_plugged_or_not(
    text: str, pattern: str, plugged: bool
) -> None:
    assert speech.jack_plugged(text, pattern) is plugged


def test_speech_actions_have_default_keys_to_bind() -> None:
    assert set(speech.DEFAULT_SPEECH_KEYS.values()) == set(speech.SPEECH_ACTIONS)


# --- the [speech] table of the configuration ----------------------------------------
def speech_config(tmp_path, table: str):
    from tests.test_config import write_config

    path = write_config(tmp_path, (r"^\[speech\][^\[]*", table + "\n"))
    return path


def test_the_example_speech_table_is_read(tmp_path) -> None:
    from kiosk import config as kc
    from tests.test_config import write_config

    speech_table = kc.load_config(write_config(tmp_path)).speech
    assert speech_table.enabled and speech_table.cues and not speech_table.blank_screen_in_handset


def test_a_bad_speech_value_names_its_key(tmp_path) -> None:
    from kiosk import config as kc

    path = speech_config(tmp_path, '[speech]\nenabled = "yes"\nvolume = 3\n'
                                   'jack_plugged_pattern = "(("')
    with pytest.raises(kc.ConfigInvalid) as caught:
        kc.load_config(path)
    text = "\n".join(caught.value.problems)
    assert "speech.enabled: expected true or false" in text
    assert "unknown key 'speech.volume'" in text
    assert "speech.jack_plugged_pattern: expected a regular expression" in text
