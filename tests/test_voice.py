"""The speech engines and the prompt cache (kiosk/voice.py), with the real engines.

Open JTalk (Debian's binary, naist-jdic, the voice Mei) and eSpeak NG render a few
prompts to WAV files; sox measures that each holds speech: long enough, and louder than
silence. Only a small sample is rendered here (the whole cache: bench/bench_speech.py).
Without an engine or a voice the cache says why and the kiosk stays silent.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from kiosk import speech
from kiosk.heartbeat import collect_health
from kiosk.i18n import t
from kiosk.views import staff_figures
from kiosk.voice import (
    STATUS_NO_ENGINE,
    STATUS_NO_VOICE,
    STATUS_OK,
    Engines,
    SpeechUnavailable,
    VoiceCache,
)
from offline_queue.store import QueueStatus

#: Quieter than this (RMS, full scale 1.0) is silence, not speech.
SILENCE_RMS = 0.01


def sox_stat(path: Path) -> dict[str, float]:
    done = subprocess.run(
        ["sox", str(path), "-n", "stat"], capture_output=True, text=True, check=True
    )
    figures = {}
    for line in done.stderr.splitlines():
        name, _, value = line.partition(":")
        try:
            figures[name.strip()] = float(value.strip())
        except ValueError:
            continue
    return figures


def assert_holds_speech(path: Path, at_least_s: float) -> None:
    stat = sox_stat(path)
    assert stat["Length (seconds)"] >= at_least_s, stat
    assert stat["RMS     amplitude"] > SILENCE_RMS, stat


@pytest.fixture
def cache(tmp_path: Path) -> VoiceCache:
    voices = VoiceCache(tmp_path / "speech", languages=("ja", "en"))
    yield voices
    voices.close()


def test_the_engines_and_the_japanese_voice_are_installed(cache: VoiceCache) -> None:
    assert cache.status().code == STATUS_OK, cache.status()


@pytest.mark.slow
def test_open_jtalk_renders_a_japanese_prompt_that_holds_speech(cache: VoiceCache) -> None:
    for line in speech.lines_for({"state": "welcome", "lang": "ja"})[:2]:
        assert_holds_speech(cache.clip(line, "ja"), at_least_s=1.0)


def test_espeak_ng_renders_an_english_prompt_that_holds_speech(cache: VoiceCache) -> None:
    line = speech.lines_for({"state": "take_card", "lang": "en"})[0]
    assert_holds_speech(cache.clip(line, "en"), at_least_s=0.5)


def test_every_espeak_voice_of_the_table_is_one_espeak_ng_has() -> None:
    listed = subprocess.run(
        ["espeak-ng", "--voices"], capture_output=True, text=True, check=True
    ).stdout.split()
    for lang, voice in speech.VOICES.items():
        if voice.engine == speech.ENGINE_ESPEAK:
            assert voice.voice in listed, (lang, voice.voice)


def test_a_korean_line_renders_with_its_espeak_voice(tmp_path: Path) -> None:
    voices = VoiceCache(tmp_path, languages=("ko",))
    assert_holds_speech(voices.clip("카드를 놓아 주세요", "ko"), at_least_s=0.5)


def test_a_cached_clip_is_not_rendered_again_and_a_new_rate_is_a_new_clip(
    cache: VoiceCache,
) -> None:
    first = cache.clip("Please take your card", "en")
    again = cache.clip("Please take your card", "en")
    assert first == again and cache.rendered == 1
    slower = cache.clip("Please take your card", "en", rate=0.7)
    assert slower != first and cache.rendered == 2
    assert sox_stat(slower)["Length (seconds)"] > sox_stat(first)["Length (seconds)"]


def test_building_the_cache_renders_each_line_once(cache: VoiceCache) -> None:
    lines = ["Thank you", "Please take your card", "Thank you"]
    assert cache.build({"en": lines}) == {"en": 3}
    assert cache.rendered == 2 and cache.size_bytes("en") > 0
    assert cache.cached("Thank you", "en") is not None


def test_a_closed_cache_stops_building_at_once(cache: VoiceCache) -> None:
    cache.close()
    assert cache.build({"en": ["Thank you", "Goodbye"]}) == {}
    assert cache.rendered == 0


def test_without_the_engines_on_the_path_the_cache_is_silent_and_says_why(
    tmp_path: Path,
) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    voices = VoiceCache(tmp_path / "speech", Engines.find(path=str(empty)),
                        languages=("ja", "en"))
    status = voices.status()
    assert status.code == STATUS_NO_ENGINE
    assert {"open_jtalk", "espeak-ng"} <= set(status.missing)
    assert status.silent_languages == ("ja", "en")
    assert not voices.can_speak("ja")
    with pytest.raises(SpeechUnavailable):
        voices.clip("こんにちは", "ja")
    assert voices.build({"ja": ["こんにちは"], "en": ["Hello"]}) == {"ja": 0, "en": 0}


def test_without_the_voice_file_japanese_is_silent_and_english_still_speaks(
    tmp_path: Path,
) -> None:
    voices = VoiceCache(tmp_path / "speech", Engines.find(voice_dir=tmp_path / "none"),
                        languages=("ja", "en"))
    status = voices.status()
    assert status.code == STATUS_NO_VOICE and status.silent_languages == ("ja",)
    assert "mei_normal.htsvoice" in status.missing
    assert voices.can_speak("en") and not voices.can_speak("ja")


def test_the_heartbeat_and_the_staff_figures_say_the_kiosk_cannot_speak() -> None:
    queue = QueueStatus(counts={}, oldest_pending_age_s=None, last_success_at=None,
                        last_error_kind=None)
    body = collect_health(queue, printer="ok", reader="ok", speech=STATUS_NO_ENGINE).body()
    assert body["speech"] == "no_engine"
    figures = staff_figures({"speech": "no_voice", "speech_missing": "mei_normal.htsvoice"})
    line = t("speech.staff.line", status=t(f"speech.staff.{figures['speech']}",
                                           missing=figures["speech_missing"]))
    assert "mei_normal.htsvoice" in line


def test_a_failed_render_leaves_no_clip_behind(tmp_path: Path) -> None:
    engines = Engines.find()
    engines.espeak_ng = str(tmp_path / "espeak-that-fails")
    Path(engines.espeak_ng).write_text("#!/bin/sh\nexit 3\n")
    Path(engines.espeak_ng).chmod(0o755)
    voices = VoiceCache(tmp_path / "speech", engines, languages=("en",))
    with pytest.raises(SpeechUnavailable):
        voices.clip("Hello", "en")
    assert voices.cached("Hello", "en") is None
    assert not list((tmp_path / "speech").rglob("*.wav"))
