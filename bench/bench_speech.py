"""Spoken guidance: the whole prompt cache per language (time, clips, size), and the
latency from a screen shown to its first audio sample, p50 and p95.

    .venv/bin/python bench/bench_speech.py [--rounds 20] [--languages ja,en]

Cache: every line the kiosk may say (``kiosk.speech.prompt_lines``) rendered by the real
engines into an empty folder, per language of ``kiosk.i18n.LANGUAGES``: build time,
clips, megabytes.

Latency: for every screen (one view per state), from the call the app makes when a
screen is shown (``Speaker.screen_shown``) to the moment the first clip is playing,
i.e. loaded by Kivy's SDL2 audio and ``play()`` has handed its first samples to the
mixer (SDL's ``dummy`` audio driver here: a kiosk's ALSA device adds one buffer period,
about 20 ms at SDL's defaults). Baseline, in this same process: the same first line
rendered by its engine on demand (what a kiosk without the cache would do), plus the
same load and play. The ratio cached / uncached is what the cache buys.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
os.environ.setdefault("KIVY_NO_ARGS", "1")
os.environ.setdefault("KIVY_NO_CONSOLELOG", "1")

from kiosk import flow, i18n, speech  # noqa: E402
from kiosk.catalog import Catalog  # noqa: E402
from kiosk.voice import VoiceCache, all_prompts  # noqa: E402


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def build_cache(directory: Path, languages: tuple[str, ...]) -> VoiceCache:
    catalog = Catalog.load()
    cache = VoiceCache(directory, languages=languages)
    prompts = all_prompts(catalog, languages)
    print(f"{'language':10} {'clips':>6} {'build s':>8} {'MB':>7} {'kB/clip':>8}  voice")
    for lang in languages:
        started = time.perf_counter()
        made = cache.build({lang: prompts[lang]})[lang]
        seconds = time.perf_counter() - started
        size = cache.size_bytes(lang)
        voice = speech.voice_for(lang)
        print(f"{lang:10} {made:6d} {seconds:8.1f} {size / 1e6:7.2f} "
              f"{size / max(1, made) / 1e3:8.1f}  {voice.engine} {voice.voice}")
    return cache


def screen_views(lang: str) -> list[dict[str, object]]:
    """Every screen once; the 行政サービス menu and an info page with their real entries."""
    from kiosk.catalog import Catalog
    from kiosk.speech import procedure_views

    service = {"name": "WAON", "fields": [{"label": "service_id"}]}
    real = {}
    for view in procedure_views(Catalog.load(), lang):
        real.setdefault(view["state"], view)
    return [
        {"state": state, "lang": lang, "service": service, "tries_left": 3}
        if state not in (flow.MENU, flow.PROCEDURE_INFO) else real.get(state, {"state": state,
                                                                           "lang": lang})
        for state in flow.STATES
    ]


def latency(cache: VoiceCache, lang: str, rounds: int) -> list[float]:
    """Screen shown -> first clip playing, over every screen, ``rounds`` times (ms)."""
    from screens.speaker import Speaker

    speaker = Speaker(cache)
    times: list[float] = []
    for _ in range(rounds):
        for view in screen_views(lang):
            speaker._last_state = None  # each round shows the screen anew
            started = time.perf_counter()
            speaker.screen_shown(view)
            if speaker._sound is None:
                raise RuntimeError(f"nothing played for {view['state']} in {lang}")
            times.append((time.perf_counter() - started) * 1000)
            speaker.stop()
    return times


def uncached(lang: str, rounds: int) -> list[float]:
    """The baseline: the first line rendered on demand, then loaded and played (ms)."""
    from kivy.core.audio import SoundLoader

    times: list[float] = []
    with tempfile.TemporaryDirectory() as folder:
        for round_no in range(rounds):
            for view in screen_views(lang):
                cache = VoiceCache(Path(folder) / str(round_no), languages=(lang,))
                line = speech.lines_for(view)[0]
                started = time.perf_counter()
                sound = SoundLoader.load(str(cache.clip(line, lang)))
                sound.play()
                times.append((time.perf_counter() - started) * 1000)
                sound.stop()
                cache.close()
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--baseline-rounds", type=int, default=2)
    parser.add_argument("--languages", default=",".join(i18n.LANGUAGES))
    args = parser.parse_args()
    languages = tuple(args.languages.split(","))
    print(f"python {platform.python_version()} on {platform.machine()}, "
          f"{os.cpu_count()} CPUs; languages {', '.join(languages)}")
    with tempfile.TemporaryDirectory() as folder:
        print("\n# the prompt cache, built from empty")
        cache = build_cache(Path(folder), languages)
        print("\n# screen shown -> first audio sample (ms)")
        print(f"{'language':10} {'p50':>7} {'p95':>7} {'max':>7}  {'uncached p50':>12} "
              f"{'p95':>7}  {'ratio p50':>9}")
        for lang in languages:
            cached = latency(cache, lang, args.rounds)
            base = uncached(lang, args.baseline_rounds)
            print(f"{lang:10} {percentile(cached, 0.5):7.1f} {percentile(cached, 0.95):7.1f} "
                  f"{max(cached):7.1f}  {percentile(base, 0.5):12.1f} "
                  f"{percentile(base, 0.95):7.1f}  "
                  f"{percentile(cached, 0.5) / percentile(base, 0.5):9.3f}")
        print(f"\n(budget: 200 ms; {len(flow.STATES)} screens x {args.rounds} rounds cached, "
              f"x {args.baseline_rounds} uncached)")
        cache.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
