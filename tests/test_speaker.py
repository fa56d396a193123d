"""The speaker's handset hook (screens/speaker.py): the headphone jack's state file and
the handset key move speech between the loudspeaker and the handset, and blank the
screen when configured. No audio device: the speaker here has no voices, so it routes
without playing."""

from __future__ import annotations

from pathlib import Path

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
