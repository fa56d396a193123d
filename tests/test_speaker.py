"""The speaker's handset hook (screens/speaker.py): the headphone jack's state file and
the handset key move speech between the loudspeaker and the handset, and blank the
screen when configured. No audio device: the speaker here has no voices, so it routes
without playing."""

from __future__ import annotations

from pathlib import Path

import pytest

from kiosk.speech import AudioRoute
from screens.speaker import Speaker


def test_plugging_headphones_in_and_out_moves_speech_and_blanks_the_screen(
    tmp_path: Path,
) -> None:
    jack = tmp_path / "state"
    jack.write_text("HEADPHONE=0\n")
    blanked: list[bool] = []
    speaker = Speaker(
        None,
        route=AudioRoute(blank_in_handset=True),
        jack_state_file=str(jack),
        on_route=lambda route: blanked.append(route.blank_screen),
    )
    speaker.poll_jack()
    assert not speaker.route.handset and blanked == []
    jack.write_text("HEADPHONE=1\n")
    speaker.poll_jack()
    speaker.poll_jack()  # no change, no second report
    assert speaker.route.handset and blanked == [True]
    jack.write_text("HEADPHONE=0\n")
    speaker.poll_jack()
    assert not speaker.route.handset and blanked == [True, False]


def test_a_jack_file_that_vanishes_changes_nothing(tmp_path: Path) -> None:
    speaker = Speaker(None, jack_state_file=str(tmp_path / "gone"))
    speaker.poll_jack()
    assert not speaker.route.handset


def test_the_handset_key_is_a_speech_action_and_the_next_session_starts_on_the_speaker() -> None:
    routes: list[str] = []
    speaker = Speaker(None, on_route=lambda route: routes.append(route.output))
    assert speaker.action("handset_toggle") and speaker.route.handset
    speaker.session_ended()
    assert not speaker.route.handset and routes == ["handset", "speaker"]
    assert not speaker.action("no_such_action")


def silent_speaker(tmp_path: Path) -> Speaker:
    """A speaker whose engines are missing: it says nothing, but records what it was sent."""
    from kiosk.voice import Engines, VoiceCache

    empty = tmp_path / "bin"
    empty.mkdir()
    voices = VoiceCache(tmp_path / "speech", Engines.find(path=str(empty)), languages=("en",))
    return Speaker(voices)


def test_a_screen_is_said_once_and_the_countdown_once_when_it_starts(tmp_path: Path) -> None:
    speaker = silent_speaker(tmp_path)
    view = {"state": "welcome", "lang": "en"}
    speaker.screen_shown(view)
    said = list(speaker.spoken)
    assert said[0] == "Mynapoint application" and len(said) == 3
    speaker.screen_shown(view)
    assert speaker.spoken == said  # the same screen again says nothing
    speaker.screen_shown({**view, "countdown": 20})
    speaker.screen_shown({**view, "countdown": 19})
    assert speaker.spoken[len(said):] == [
        "No activity: returning to the start in 20 s"
    ]


def test_the_pin_keypad_is_answered_with_a_count_and_a_read_back_needs_the_handset(
    tmp_path: Path,
) -> None:
    speaker = silent_speaker(tmp_path)
    speaker.digits_entered(1, "en")
    speaker.read_back("1234567890", "en")
    assert speaker.spoken == [
        "1 digit entered",
        "What you typed is read back only through the handset",
    ]
    speaker.action("handset_toggle")
    before = list(speaker.spoken)
    speaker.read_back("1234567890", "en")
    assert speaker.spoken == before  # read back, and never recorded


def test_a_language_without_a_voice_entry_is_silent_not_a_crash(tmp_path: Path) -> None:
    speaker = silent_speaker(tmp_path)
    speaker.screen_shown({"state": "welcome", "lang": "xx"})
    assert speaker.spoken == []


def test_the_handset_hears_the_clip_through_alsa_at_the_persons_volume(tmp_path: Path) -> None:
    """The handset route through real ``aplay`` and alsa-lib. This machine has no sound
    card, so the handset device is ALSA's own ``tee`` plugin onto its ``null`` device,
    which keeps what reaches the device in a WAV file (the configured device name is all
    that differs from a kiosk's ``plughw:``). aplay has no volume of its own: louder and
    quieter must reach the handset too."""
    from kiosk.voice import VoiceCache
    from tests.test_voice import assert_holds_speech, sox_stat

    heard = tmp_path / "handset.wav"
    voices = VoiceCache(tmp_path / "speech", languages=("en",))
    speaker = Speaker(voices, handset_device=f"tee:null,'{heard}',wav")
    assert speaker.route.toggle_key() and speaker.route.handset
    line = "Please place your My Number Card on the reader"
    clip = voices.clip(line, "en")
    try:
        levels = []
        for step in ("as it starts", "louder", "louder"):
            if step == "louder":
                assert speaker.settings.louder()
            speaker.say([line], "en")
            process = speaker._process
            assert process is not None, "nothing went to the handset"
            assert process.wait(30) == 0
            assert_holds_speech(heard, at_least_s=0.9 * sox_stat(clip)["Length (seconds)"])
            levels.append(sox_stat(heard)["RMS     amplitude"])
            heard.unlink()
    finally:
        speaker.stop()
        voices.close()
    original = sox_stat(clip)["RMS     amplitude"]
    # The session starts at -10 dB, each louder is +5 dB, and 0 dB is the clip as rendered.
    assert levels[0] == pytest.approx(original * 10 ** (-10 / 20), rel=0.03)
    assert levels[1] == pytest.approx(levels[0] * 10 ** (5 / 20), rel=0.03)
    assert levels[2] == pytest.approx(original, rel=0.03)


def test_a_damaged_clip_on_the_handset_is_cut_and_speech_goes_on(tmp_path: Path) -> None:
    """A clip that is not a 16-bit WAV (a truncated cache file, a disk error): aplay is
    stopped and the speaker is told the clip is over, so the next line is said; no
    exception escapes the handset's thread."""
    import threading

    from kiosk.voice import SpeechUnavailable, wav_at_gain

    damaged = tmp_path / "damaged.wav"
    damaged.write_bytes(b"RIFF\x00\x00not a wave file")
    eight_bit = tmp_path / "eight.wav"
    import wave

    with wave.open(str(eight_bit), "wb") as clip:
        clip.setparams((1, 1, 8000, 0, "NONE", "not compressed"))
        clip.writeframes(bytes(800))
    for clip_path in (damaged, eight_bit, tmp_path / "missing.wav"):
        with pytest.raises(SpeechUnavailable):
            next(wav_at_gain(clip_path, 0.5))

    escaped: list[BaseException] = []
    told = threading.Event()  # the thread's last act: the clip is over, on the UI thread
    before = threading.excepthook
    threading.excepthook = lambda args: escaped.append(args.exc_value)
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr("screens.speaker.post_to_ui", lambda *_call: told.set())
            speaker = Speaker(None, handset_device=f"tee:null,'{tmp_path / 'out.wav'}',wav")
            speaker._play_on_handset(damaged)
            process = speaker._process
            assert process is not None
            assert told.wait(30), f"the clip never ended: {escaped}"
        assert process.poll() is not None
    finally:
        threading.excepthook = before
    assert escaped == []
