"""The card-left-behind beep: a short tone generated once, played through Kivy's audio."""

from __future__ import annotations

import math
import struct
import tempfile
import wave
from functools import cache
from pathlib import Path

BEEP_HZ = 1200
BEEP_SECONDS = 0.25
SAMPLE_RATE = 22050


@cache
def _beep_file() -> Path:
    path = Path(tempfile.gettempdir()) / "mynapoint-kiosk-beep.wav"
    frames = b"".join(
        struct.pack("<h", int(12000 * math.sin(2 * math.pi * BEEP_HZ * n / SAMPLE_RATE)))
        for n in range(int(SAMPLE_RATE * BEEP_SECONDS))
    )
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        out.writeframes(frames)
    return path


def beep() -> None:
    """Play the beep; a kiosk without audio output stays silent (the screen still flashes)."""
    from kivy.core.audio import SoundLoader

    try:
        sound = SoundLoader.load(str(_beep_file()))
    except Exception:  # no audio device: the visual cue is enough
        return
    if sound is not None:
        sound.play()
