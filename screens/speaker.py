"""Spoken guidance out loud: each screen's lines (``kiosk.speech``) played from the cache.

The app calls :meth:`Speaker.screen_shown` whenever it shows a view: a new screen (or
new words on it, such as a wrong entry) interrupts what was being said and says its
lines one clip after the other. A clip already in the cache starts at once; one that
is not is rendered on the speech worker thread and played when it arrives, unless the
screen has changed by then. Every string sent to the speaker is kept in
:attr:`Speaker.spoken` for this process (the UI tests check that no PIN, ID or code is
ever among them).

Output: the loudspeaker is Kivy's audio (SDL2, the default ALSA device). In handset
mode, with ``speech.handset_device`` set, clips go to that ALSA device with ``aplay``
and never to the loudspeaker. A kiosk without an audio device (or without an engine or
voice) runs silently: the staff screen and the heartbeat say so.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

from kiosk import speech
from kiosk.i18n import t
from kiosk.voice import SpeechUnavailable, VoiceCache, wav_at_gain
from screens.ui_thread import post_to_ui

log = logging.getLogger("screens.speaker")


class Speaker:
    """Says what the screens show; obeys repeat, slower, faster, louder, quieter, stop."""

    def __init__(
        self,
        voices: VoiceCache | None,
        *,
        route: speech.AudioRoute | None = None,
        handset_device: str = "",
        jack_state_file: str = "",
        jack_plugged_pattern: str = "",
        on_route: Any = None,
    ) -> None:
        self.voices = voices
        self.settings = speech.SpeechSettings()
        self.route = route or speech.AudioRoute()
        self.handset_device = handset_device
        self.jack_state_file = jack_state_file
        self.jack_plugged_pattern = jack_plugged_pattern
        self.on_route = on_route  # called with the route when it changes (blank the screen)
        self.spoken: list[str] = []
        #: How many characters each read-back said (never which: the characters are an ID).
        self.read_backs: list[int] = []
        #: When each clip was handed to the audio output (monotonic seconds), for the bench.
        self.started: list[tuple[float, str]] = []
        self._lines: list[str] = []
        self._lang = "ja"
        self._queue: list[str] = []
        self._record = True  # whether the lines being said go to `spoken` (not a read-back)
        self._generation = 0
        self._sound: Any = None
        self._process: subprocess.Popen[bytes] | None = None
        self._last_state: str | None = None
        self._last_lines: list[str] = []
        self._counting_down = False
        self.audio_device = True  # False once the loudspeaker output failed to open

    @property
    def available(self) -> bool:
        return self.voices is not None and self.voices.enabled

    # --- what the screens say -------------------------------------------------------------
    def screen_shown(self, view: dict[str, Any]) -> None:
        """A view is on screen: say it when its words differ from what was said for it."""
        if not self.available:
            return
        state, lang = view.get("state", ""), view.get("lang") or "ja"
        countdown = int(view.get("countdown") or 0)
        try:
            lines = speech.lines_for(view)
        except (KeyError, ValueError) as error:  # a language without a voice entry or text
            log.warning("speech_no_lines state=%s lang=%s error=%s", state, lang,
                        type(error).__name__)
            return
        if state != self._last_state or lines != self._last_lines or lang != self._lang:
            self._last_state, self._last_lines = state, lines
            self._counting_down = countdown > 0
            self.say(lines, lang)
        elif countdown > 0 and not self._counting_down:
            self._counting_down = True
            self.say([speech.countdown_line(countdown, lang)], lang, remember=False)
        elif countdown == 0:
            self._counting_down = False

    def say(self, lines: list[str], lang: str, *, remember: bool = True) -> None:
        """Stop what is being said, then say ``lines`` (``remember``: what repeat says)."""
        if not self.available:
            return
        self.stop()
        if remember:
            self._lines = list(lines)
        self._lang = lang
        self._queue = list(lines)
        self._record = True
        self._play_next()

    def digits_entered(self, count: int, lang: str) -> None:
        """The PIN keypad took a key: "1 digit entered" (the digit itself is never said)."""
        if count > 0:
            self.say([speech.digits_entered(count, lang)], lang, remember=False)

    def read_back(self, text: str, lang: str) -> None:
        """What is typed in a field, character by character: in handset mode only."""
        if not self.route.handset:
            self.say([t("speech.read_back_handset_only", speech.voice_for(lang).speak_as)],
                     lang, remember=False)
            return
        self.stop()
        self._lang = lang
        self.read_backs.append(len(text))
        self._queue = speech.character_by_character(text, lang)
        self._record = False  # never kept: the characters are the ID itself
        self._play_next()

    # --- controls ------------------------------------------------------------------------
    def action(self, name: str) -> bool:
        """One of :data:`kiosk.speech.SPEECH_ACTIONS` (``read_back`` needs the field's text:
        the app handles it); False when it is not a speech action."""
        lang = self._lang
        said = speech.voice_for(lang).speak_as
        if name == "speech_repeat":
            self.say(self._lines, lang)
        elif name == "speech_stop":
            self.stop()
        elif name in ("speech_slower", "speech_faster"):
            changed = self.settings.slower() if name == "speech_slower" else self.settings.faster()
            if changed:
                key = "speech.slower" if name == "speech_slower" else "speech.faster"
                self.say([t(key, said), *self._lines], lang, remember=False)
        elif name in ("speech_louder", "speech_quieter"):
            up = name == "speech_louder"
            if self.settings.louder() if up else self.settings.quieter():
                self.say([t("speech.louder" if up else "speech.quieter", said)], lang,
                         remember=False)
        elif name == "handset_toggle":
            if self.route.toggle_key():
                self._route_changed()
        else:
            return False
        return True

    def poll_jack(self) -> None:
        """Read the headphone jack's state file (the app's one-second tick)."""
        if not self.jack_state_file:
            return
        try:
            text = Path(self.jack_state_file).read_text(errors="replace")
        except OSError:
            return
        if self.route.jack(speech.jack_plugged(text, self.jack_plugged_pattern)):
            self._route_changed()

    def _route_changed(self) -> None:
        key = "speech.handset_on" if self.route.handset else "speech.handset_off"
        self.stop()
        if self.on_route is not None:
            self.on_route(self.route)
        self.say([t(key, speech.voice_for(self._lang).speak_as), *self._lines],
                 self._lang, remember=False)

    def session_ended(self) -> None:
        """The next person starts with normal speed and volume, on the loudspeaker."""
        self.settings = speech.SpeechSettings()
        before = self.route.handset
        self.route.session_ended()
        if before != self.route.handset and self.on_route is not None:
            self.on_route(self.route)

    def stop(self) -> None:
        self._generation += 1
        self._queue = []
        sound, self._sound = self._sound, None
        if sound is not None:
            try:
                sound.unbind(on_stop=self._clip_over)
                sound.stop()
                sound.unload()
            except Exception as error:  # an output that went away: nothing more to stop
                log.debug("speech_stop_failed error=%s", type(error).__name__)
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()

    # --- playing -------------------------------------------------------------------------
    def _play_next(self) -> None:
        if not self._queue or self.voices is None:
            return
        line = self._queue.pop(0)
        if self._record:
            self.spoken.append(line)
        generation, lang, rate = self._generation, self._lang, self.settings.rate
        if not self.voices.can_speak(lang):
            if self._record:  # silent: the strings were still sent to the speaker
                self.spoken.extend(self._queue)
            self._queue = []
            return
        path = self.voices.cached(line, lang, rate)
        if path is not None:
            self._play(path, line, generation)
            return
        future = self.voices.clip_async(line, lang, rate)
        future.add_done_callback(
            lambda done: post_to_ui(self._rendered, done, line, generation)
        )

    def _rendered(self, done: Any, line: str, generation: int) -> None:
        if generation != self._generation:
            return  # the screen changed meanwhile
        try:
            path = done.result(timeout=0)
        except (SpeechUnavailable, Exception) as error:  # silent, said once in the log
            log.warning("speech_failed error=%s", type(error).__name__)
            self._play_next()
            return
        self._play(path, line, generation)

    def _play(self, path: Path, line: str, generation: int) -> None:
        self.started.append((time.monotonic(), line if line in self._lines else ""))
        if self.route.handset and self.handset_device:
            self._play_on_handset(path)
            return
        from kivy.core.audio import SoundLoader

        sound = None
        if self.audio_device:
            try:
                sound = SoundLoader.load(str(path))
            except Exception:  # no audio device
                sound = None
        if sound is None:
            self.audio_device = False
            self._clip_over()  # silent: go on with the next line, as if it had been said
            return
        sound.volume = self.settings.gain
        sound.bind(on_stop=self._clip_over)
        self._sound = sound
        sound.play()

    def _play_on_handset(self, path: Path) -> None:
        """The clip to the handset's ALSA device, at the person's volume (aplay has none)."""
        aplay = shutil.which("aplay")
        if aplay is None:
            self._clip_over()
            return
        self._process = process = subprocess.Popen(
            [aplay, "-q", "-D", self.handset_device, "-"],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        generation, gain = self._generation, self.settings.gain

        def feed_and_wait() -> None:
            try:
                with process.stdin:  # type: ignore[union-attr]
                    for chunk in wav_at_gain(path, gain):
                        process.stdin.write(chunk)  # type: ignore[union-attr]
            except (OSError, ValueError, SpeechUnavailable) as error:
                # stopped (aplay terminated), a handset that went away, a damaged clip
                log.debug("handset_clip_cut error=%s", type(error).__name__)
                if process.poll() is None:
                    process.terminate()
            process.wait()
            post_to_ui(lambda: generation == self._generation and self._clip_over())

        import threading

        threading.Thread(target=feed_and_wait, name="handset-clip", daemon=True).start()

    def _clip_over(self, *_args: Any) -> None:
        self._sound = None
        if self._queue:
            self._play_next()
