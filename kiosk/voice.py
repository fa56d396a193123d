"""The speech engines and the prompt cache: every line rendered once, to a WAV file.

Japanese is spoken by Debian's ``open_jtalk`` (dictionary ``open-jtalk-mecab-naist-jdic``)
with the HTS voice "Mei" (``mei_normal.htsvoice``, CC BY 3.0, Nagoya Institute of
Technology), which ``scripts/setup.sh`` takes from a PyPI package at install time; the
other languages by ``espeak-ng``. Nothing is downloaded at run time.

A clip's file name is the SHA-256 of engine, voice, rate and text, so a changed text
or voice is a new clip and an old one is never played for it. Files are written to a
temporary name and renamed, so a crash never leaves half a clip under a real name.
:meth:`VoiceCache.build` renders every prompt of every language at first start (on
a worker thread); a line not in the cache yet is rendered when it is first needed.

When an engine or a voice is missing, :meth:`VoiceCache.status` says which, the kiosk
runs silently, and the staff screen and the heartbeat report it.

    >>> cache = VoiceCache(Path("/var/cache/mynapoint-kiosk/speech"))  # doctest: +SKIP
    >>> cache.clip("カードをお取りください", "ja")                       # doctest: +SKIP
    PosixPath('/var/cache/mynapoint-kiosk/speech/ja/5f0c....wav')
"""

from __future__ import annotations

import array
import hashlib
import logging
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import threading
import wave
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from kiosk.speech import ENGINE_JTALK, VOICES, voice_for

log = logging.getLogger("kiosk.voice")

JTALK_DICTIONARY = Path("/var/lib/mecab/dic/open-jtalk/naist-jdic")
VOICE_FILE = "mei_normal.htsvoice"
#: Where ``scripts/setup.sh`` puts the HTS voice: inside the virtual environment.
DEFAULT_VOICE_DIR = Path(sys.prefix) / "share" / "mynapoint-kiosk" / "voices"
ESPEAK_WORDS_PER_MINUTE = 165
#: Open JTalk speaks at the voice's 48 kHz; clips are stored at this rate (half the size,
#: no audible loss for speech) when sox is there to resample them.
CLIP_SAMPLE_RATE = 22050
RENDER_TIMEOUT_S = 30.0

STATUS_OK = "ok"
STATUS_OFF = "off"
STATUS_NO_ENGINE = "no_engine"
STATUS_NO_VOICE = "no_voice"


class SpeechUnavailable(Exception):
    """A line cannot be spoken: its engine or voice is missing, or the engine failed."""


@dataclass(frozen=True)
class SpeechStatus:
    """Whether the kiosk can speak, for the staff screen and the heartbeat (no person's data)."""

    code: str  # ok, off, no_engine, no_voice (a heartbeat status code)
    missing: tuple[str, ...] = ()  # engines or voice files missing
    silent_languages: tuple[str, ...] = ()  # languages that cannot be spoken at all
    fallbacks: tuple[tuple[str, str], ...] = ()  # (language, spoken as)


@dataclass
class Engines:
    """Where the engines and the voice are on this machine (found through ``PATH``)."""

    open_jtalk: str | None
    espeak_ng: str | None
    htsvoice: Path | None
    dictionary: Path = JTALK_DICTIONARY
    missing: list[str] = field(default_factory=list)

    @classmethod
    def find(cls, voice_dir: Path | None = None, path: str | None = None) -> Engines:
        """Look for ``open_jtalk``, its dictionary and voice, and ``espeak-ng``."""
        jtalk = shutil.which("open_jtalk", path=path)
        espeak = shutil.which("espeak-ng", path=path)
        voice = (voice_dir or DEFAULT_VOICE_DIR) / VOICE_FILE
        missing = []
        if jtalk is None:
            missing.append("open_jtalk")
        if not JTALK_DICTIONARY.is_dir():
            missing.append(str(JTALK_DICTIONARY))
        if not voice.is_file():
            missing.append(VOICE_FILE)
        if espeak is None:
            missing.append("espeak-ng")
        return cls(jtalk, espeak, voice if voice.is_file() else None, missing=missing)

    def can_speak(self, lang: str) -> bool:
        voice = voice_for(lang)
        if voice.engine == ENGINE_JTALK:
            return bool(self.open_jtalk and self.htsvoice and self.dictionary.is_dir())
        return self.espeak_ng is not None

    def command(self, text: str, lang: str, rate: float, out: Path) -> list[str]:
        """The engine's command line that writes ``text`` spoken to ``out`` (a WAV file)."""
        voice = voice_for(lang)
        speed = rate * voice.rate
        if voice.engine == ENGINE_JTALK:
            if not self.can_speak(lang):
                raise SpeechUnavailable(f"open_jtalk or its voice is missing for {lang}")
            return [str(self.open_jtalk), "-x", str(self.dictionary), "-m", str(self.htsvoice),
                    "-r", f"{speed:.2f}", "-g", "-3", "-ow", str(out)]
        if self.espeak_ng is None:
            raise SpeechUnavailable(f"espeak-ng is missing for {lang}")
        return [self.espeak_ng, "-v", voice.voice, "-s", str(int(ESPEAK_WORDS_PER_MINUTE * speed)),
                "-w", str(out), "--stdin"]


def clip_key(text: str, lang: str, rate: float) -> str:
    """The cache key: engine, voice, rate and text (a new voice or wording is a new clip)."""
    voice = voice_for(lang)
    material = "\0".join((voice.engine, voice.voice, f"{rate * voice.rate:.3f}", text))
    return hashlib.sha256(material.encode("utf-8")).hexdigest()


class VoiceCache:
    """Rendered prompts on disk, one WAV per (line, language, rate)."""

    def __init__(
        self,
        directory: Path,
        engines: Engines | None = None,
        *,
        enabled: bool = True,
        languages: Iterable[str] | None = None,
    ) -> None:
        from kiosk.i18n import LANGUAGES

        self.directory = Path(directory)
        self.engines = engines or Engines.find()
        self.enabled = enabled
        self.languages = tuple(languages or LANGUAGES)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="speech")
        self._lock = threading.Lock()
        self._closed = threading.Event()  # a build in progress stops at the next line
        self.rendered = 0  # clips this process synthesised (the rest came from the cache)

    # --- state ---------------------------------------------------------------------------
    def status(self) -> SpeechStatus:
        """What the staff screen and the heartbeat say about speech."""
        if not self.enabled:
            return SpeechStatus(STATUS_OFF)
        silent = tuple(lang for lang in self.languages if not self.engines.can_speak(lang))
        fallbacks = tuple(
            (lang, VOICES[lang].speak_as) for lang in self.languages if VOICES[lang].fallback
        )
        missing = tuple(self.engines.missing)
        if not silent:
            return SpeechStatus(STATUS_OK, missing, (), fallbacks)
        engine_gone = any(m in ("open_jtalk", "espeak-ng") for m in missing)
        code = STATUS_NO_ENGINE if engine_gone else STATUS_NO_VOICE
        return SpeechStatus(code, missing, silent, fallbacks)

    def can_speak(self, lang: str) -> bool:
        return self.enabled and lang in VOICES and self.engines.can_speak(lang)

    def path_of(self, text: str, lang: str, rate: float = 1.0) -> Path:
        return self.directory / lang / f"{clip_key(text, lang, rate)}.wav"

    def cached(self, text: str, lang: str, rate: float = 1.0) -> Path | None:
        """The clip if it is rendered already (never waits for an engine)."""
        path = self.path_of(text, lang, rate)
        return path if path.is_file() else None

    # --- rendering ----------------------------------------------------------------------
    def clip(self, text: str, lang: str, rate: float = 1.0) -> Path:
        """The clip of ``text``, rendered now when it is not in the cache (blocks)."""
        path = self.path_of(text, lang, rate)
        if path.is_file():
            return path
        if not self.can_speak(lang):
            raise SpeechUnavailable(f"cannot speak {lang}: {self.status().code}")
        return self._render(text, lang, rate, path)

    def clip_async(self, text: str, lang: str, rate: float = 1.0) -> Future[Path]:
        """The clip, rendered on the speech worker thread when needed (never blocks)."""
        path = self.cached(text, lang, rate)
        if path is not None:
            done: Future[Path] = Future()
            done.set_result(path)
            return done
        return self._executor.submit(self.clip, text, lang, rate)

    def _render(self, text: str, lang: str, rate: float, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(suffix=".wav", dir=path.parent, prefix=".render-")
        os.close(fd)
        try:
            command = self.engines.command(text, lang, rate, Path(temporary))
            done = subprocess.run(
                command, input=text.encode("utf-8"), capture_output=True,
                timeout=RENDER_TIMEOUT_S, check=False,
            )
            if done.returncode != 0 or os.path.getsize(temporary) <= 44:
                raise SpeechUnavailable(
                    f"{command[0]} failed ({done.returncode}) for {lang}: "
                    f"{done.stderr.decode(errors='replace')[-200:]}"
                )
            if voice_for(lang).engine == ENGINE_JTALK:
                self._resample(Path(temporary))
            os.replace(temporary, path)
            with self._lock:
                self.rendered += 1
            return path
        except (OSError, subprocess.SubprocessError) as error:
            raise SpeechUnavailable(f"rendering {lang} failed: {type(error).__name__}") from error
        finally:
            if os.path.exists(temporary):
                os.unlink(temporary)

    def _resample(self, clip: Path) -> None:
        """Open JTalk's 48 kHz clip at :data:`CLIP_SAMPLE_RATE` (kept as it is without sox)."""
        sox = shutil.which("sox")
        if sox is None:
            return
        smaller = clip.with_name(clip.stem + "-22k.wav")
        try:
            done = subprocess.run(
                [sox, str(clip), "-r", str(CLIP_SAMPLE_RATE), str(smaller)],
                capture_output=True, timeout=RENDER_TIMEOUT_S, check=False,
            )
            if done.returncode == 0 and smaller.is_file():
                os.replace(smaller, clip)
        finally:
            if smaller.exists():
                smaller.unlink()

    def build(self, lines_by_language: dict[str, list[str]], rate: float = 1.0) -> dict[str, int]:
        """Render every line not cached yet; the number of clips per language that exist."""
        counts: dict[str, int] = {}
        for lang, lines in lines_by_language.items():
            if not self.can_speak(lang):
                log.warning("speech_silent lang=%s status=%s", lang, self.status().code)
                counts[lang] = 0
                continue
            made = 0
            for line in lines:
                if self._closed.is_set():
                    return counts
                try:
                    self.clip(line, lang, rate)
                    made += 1
                except SpeechUnavailable as error:
                    log.warning("speech_render_failed lang=%s error=%s", lang, type(error).__name__)
            counts[lang] = made
        return counts

    def build_async(self, lines_by_language: dict[str, list[str]]) -> Future[dict[str, int]]:
        """:meth:`build` on the speech worker thread (the kiosk's first start)."""
        return self._executor.submit(self.build, lines_by_language)

    def size_bytes(self, lang: str) -> int:
        folder = self.directory / lang
        return sum(p.stat().st_size for p in folder.glob("*.wav")) if folder.is_dir() else 0

    def close(self) -> None:
        """Stop: a build in progress ends after its current line, queued renders are dropped."""
        self._closed.set()
        self._executor.shutdown(wait=False, cancel_futures=True)


def all_prompts(catalog: object, languages: Iterable[str], countdown_seconds: int = 20
                ) -> dict[str, list[str]]:
    """Every line of every language, for :meth:`VoiceCache.build`."""
    from kiosk.speech import prompt_lines

    return {lang: prompt_lines(catalog, lang, countdown_seconds) for lang in languages}


#: Samples scaled per chunk on the way to the handset (0.1 s at the clips' rate).
GAIN_CHUNK_SAMPLES = 2048


def wav_at_gain(path: Path, gain: float) -> Iterator[bytes]:
    """A 16-bit PCM WAV clip as a WAV byte stream with every sample times ``gain``.

    The handset's ``aplay`` has no volume of its own, so the person's volume is applied
    here, chunk by chunk: the first chunk is ready at once and playback starts while the
    rest is scaled. ``gain`` is at most 1 (``SpeechSettings`` caps the volume at 0 dB).
    A clip that is not such a WAV raises SpeechUnavailable before anything is yielded.
    """
    try:
        with wave.open(str(path), "rb") as clip:
            params = clip.getparams()
            frames = clip.readframes(params.nframes)
    except (OSError, EOFError, wave.Error) as error:
        raise SpeechUnavailable(f"clip unreadable: {type(error).__name__}") from None
    if params.sampwidth != 2:
        raise SpeechUnavailable(f"clip of {params.sampwidth * 8}-bit samples")
    block = 2 * params.nchannels
    yield struct.pack(  # the canonical 44-byte PCM header, sized for the frames below
        "<4sI4s4sIHHIIHH4sI", b"RIFF", 36 + len(frames), b"WAVE", b"fmt ", 16, 1,
        params.nchannels, params.framerate, params.framerate * block, block, 16,
        b"data", len(frames),
    )
    step = GAIN_CHUNK_SAMPLES * 2
    for start in range(0, len(frames), step):
        samples = array.array("h")
        samples.frombytes(frames[start : start + step])
        if sys.byteorder == "big":
            samples.byteswap()
        scaled = array.array("h", [int(s * gain) for s in samples])
        if sys.byteorder == "big":
            scaled.byteswap()
        yield scaled.tobytes()
