"""Sound cues: short tones generated once, played through Kivy's audio.

* ``accept``: a short high click on every accepted touch or key;
* ``error``: two lower tones, falling, when an entry is refused or an error shows;
* ``card_left``: the card-left-behind beep (with the flashing take-card screen).

The tones are pure sine waves written as WAV files on first use (:data:`CUES` says
their pitch and length), so the kiosk needs no sound files of its own. A kiosk
without audio output stays silent; every cue also has a visible counterpart.
"""

from __future__ import annotations

import math
import struct
import tempfile
import wave
from functools import cache
from pathlib import Path

SAMPLE_RATE = 22050
AMPLITUDE = 12000
#: Each cue: (frequency in Hz, seconds) per tone, played one after the other.
CUES: dict[str, tuple[tuple[float, float], ...]] = {
    "accept": ((1800.0, 0.04),),
    "error": ((440.0, 0.12), (330.0, 0.18)),
    "card_left": ((1200.0, 0.25),),
}
BEEP_HZ, BEEP_SECONDS = CUES["card_left"][0]  # what the card-left beep was before the cues


def tone_frames(tones: tuple[tuple[float, float], ...]) -> bytes:
    """16-bit mono PCM of the tones, each faded in and out over 5 ms (no clicks)."""
    frames = bytearray()
    fade = int(SAMPLE_RATE * 0.005)
    for hz, seconds in tones:
        count = int(SAMPLE_RATE * seconds)
        for n in range(count):
            envelope = min(1.0, n / fade, (count - n) / fade)
            value = AMPLITUDE * envelope * math.sin(2 * math.pi * hz * n / SAMPLE_RATE)
            frames += struct.pack("<h", int(value))
    return bytes(frames)


@cache
def cue_file(name: str) -> Path:
    """The WAV file of cue ``name`` (written once per process, in the temporary folder)."""
    path = Path(tempfile.gettempdir()) / f"mynapoint-kiosk-{name}.wav"
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        out.writeframes(tone_frames(CUES[name]))
    return path


#: Every cue played in this process, by name (what the UI tests check was heard).
played: list[str] = []


def play_cue(name: str) -> None:
    """Play cue ``name``; a kiosk without audio output stays silent."""
    from kivy.core.audio import SoundLoader

    played.append(name)
    try:
        sound = SoundLoader.load(str(cue_file(name)))
    except Exception:  # no audio device: the visual cue is enough
        return
    if sound is not None:
        sound.play()


def beep() -> None:
    """The card-left-behind beep."""
    play_cue("card_left")
