"""Thirteen languages: what they cost at start and over many sessions (issue 10).

    .venv/bin/python bench/bench_languages.py [--sessions 300] [--starts 5]

1. **cold start with all 13 catalogs**: a fresh process importing ``kiosk.i18n`` and
   loading every catalog (13 languages x 5 files), against today's figure measured the
   same way in the same run: the two catalogs the kiosk had (ja, en). The kiosk loads
   a catalog on first use (``i18n.catalog`` is cached), so at start it still reads one;
   the eager figure is the worst case. Also the catalogs' size on disk.
2. **resident memory after 300 sessions that switch languages** (each session picks the
   next of the 13 in the picker, then a whole enrollment on the real window on Xvfb,
   as ``bench/bench_ui.py`` drives it), against the same process after 10 sessions.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

LOAD = (
    "import time; t = time.perf_counter(); from kiosk import i18n; "
    "[i18n.catalog(lang) for lang in {langs!r}]; i18n.t('common.app_title', 'ja'); "
    "print(time.perf_counter() - t)"
)


def load_seconds(langs: tuple[str, ...]) -> tuple[float, float]:
    """Wall time of a fresh process, and the import + load inside it."""
    t0 = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", LOAD.format(langs=langs)],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    wall = time.perf_counter() - t0
    return wall, float(done.stdout.strip())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=300)
    parser.add_argument("--starts", type=int, default=5)
    parser.add_argument("--no-window", action="store_true", help="skip the memory run")
    args = parser.parse_args()

    from kiosk.i18n import LANGUAGES, LOCALES_DIR

    today, all13 = ("ja", "en"), tuple(LANGUAGES)
    runs: dict[tuple[str, ...], list[tuple[float, float]]] = {today: [], all13: []}
    for _ in range(args.starts):  # interleaved, so a busy moment hits both alike
        for langs in (today, all13):
            runs[langs].append(load_seconds(langs))
    wall = {k: statistics.median(w for w, _ in v) for k, v in runs.items()}
    inside = {k: statistics.median(i for _, i in v) for k, v in runs.items()}
    size = {
        k: sum(f.stat().st_size for lang in k for f in (LOCALES_DIR / lang).glob("*.toml"))
        for k in runs
    }
    print(
        f"catalogs on disk: ja+en {size[today] / 1024:.0f} KiB, all 13 {size[all13] / 1024:.0f} KiB"
    )
    print(
        f"cold start, process to catalogs loaded (median of {args.starts}): ja+en "
        f"{wall[today] * 1000:.0f} ms, all 13 {wall[all13] * 1000:.0f} ms, "
        f"ratio {wall[all13] / wall[today]:.2f}; import + load alone {inside[today] * 1000:.1f} "
        f"vs {inside[all13] * 1000:.1f} ms, ratio {inside[all13] / inside[today]:.2f}"
    )
    if args.no_window:
        return 0

    import bench_ui

    from sim.display import VirtualDisplay

    work = Path(tempfile.mkdtemp(prefix="bench-lang-"))
    with VirtualDisplay(1920, 1080) as display:
        env = display.env()
        env["PYTHONPATH"] = str(REPO)
        t0 = time.monotonic()
        _, memory = bench_ui.run_child(
            env,
            ["--sessions", str(args.sessions), "--size", "800x480", "--fast", "--languages"],
            work / "mem.json",
        )
        seconds = time.monotonic() - t0
        floor = bench_ui.empty_window_rss(env, "800x480")
    rss = memory["rss_kib"]
    first, last = rss.get("10"), rss.get(str(args.sessions))
    if memory.get("error") or not first or not last:
        print(f"memory run failed: {memory.get('error')}")
        return 1
    print(
        f"resident memory, sessions switching among the 13 languages: after 10 "
        f"{first / 1024:.1f} MiB, after {args.sessions} {last / 1024:.1f} MiB; "
        f"ratio {last / first:.3f} ({seconds:.0f} s); baseline empty Kivy window at "
        f"800x480 {floor / 1024:.1f} MiB (kiosk ÷ empty {last / floor:.2f})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
