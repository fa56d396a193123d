"""The kiosk window's own costs: cold start, touch to next screen drawn, memory over sessions.

    .venv/bin/python bench/bench_ui.py [--sessions 300] [--size 1280x800]

Runs the real Kivy app on Xvfb (software GL, llvmpipe), touched through Kivy's input
path by the autopilot, in child processes of this script:

* **cold start**: from spawning the kiosk process to the welcome screen drawn and
  taking touches (3 runs); baseline in the same way: a process that imports Kivy and
  opens an empty window (what no kiosk can avoid).
* **touch → next screen drawn**, p50/p95, over whole simulated enrollments (every
  touch that changes the screen: start, agree, service, next, confirm, PIN OK, done);
  baseline: the frame interval of the same window when nothing changes.
* **resident memory** after 10 and after N whole sessions in one process (ratio: a leak
  shows as growth). Device answers (card, signature, queue, central, printer) are posted
  to the engine as the controller would post them, so the figure is the UI's own.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


# --- the child: one kiosk process ---------------------------------------------------------
def session_script(first: bool) -> list[list[Any]]:
    return [
        ["wait", "welcome"],
        ["tap", "start_apply"],
        ["wait", "notes"],
        ["tap", "agree"],
        ["wait", "place_card"],
        ["hook", "dev", "card"],
        ["hook", "dev", "cert"],
        ["wait", "choose_service"],
        ["tap", "service:waon"],
        ["wait", "enter_ids"],
        ["type", "1234567890123456"],
        ["tap", "next"],
        ["type", "1234"],
        ["tap", "next"],
        ["wait", "confirm"],
        ["tap", "confirm"],
        ["wait", "pin"],
        ["hook", "dev", "tries"],
        ["pin", "1234"],
        ["wait", "processing"],
        ["hook", "dev", "signed"],
        ["hook", "dev", "verified"],
        ["hook", "dev", "enqueued"],
        ["hook", "dev", "accepted"],
        ["wait", "result"],
        ["tap", "done"],
        ["wait", "receipt"],
        ["hook", "dev", "printed"],
        ["wait", "take_card"],
        ["hook", "dev", "removed"],
        ["wait", "welcome"],
    ]


def child(args: argparse.Namespace) -> int:
    import datetime as dt

    from screens.app import UiSettings, configure_kivy, register_fonts

    width, height = (int(v) for v in args.size.split("x"))
    settings = UiSettings(size=(width, height), brand_name="ベンチマーク店")
    configure_kivy(settings)
    if args.fast:
        from kivy.config import Config

        Config.set("graphics", "maxfps", "0")
    register_fonts()
    from kivy.clock import Clock

    from kiosk import flow
    from kiosk.catalog import Catalog
    from kiosk.session import UiSession
    from screens.app import KioskApp
    from sim import autopilot
    from sim.autopilot import Autopilot

    catalog = Catalog.load()

    def context() -> flow.FlowContext:
        return flow.FlowContext(
            kiosk_id="K-BENCH",
            catalog=catalog,
            now=time.monotonic(),
            today=dt.date(2026, 6, 1),
            idle_seconds=600,
        )

    engine = UiSession(context)
    app = KioskApp(settings, engine)
    answers = {
        "card": lambda: flow.CardPlaced(),
        "cert": lambda: flow.CertificateRead(b"\x30\x82\x05\x00" + b"C" * 1400, 3),
        "tries": lambda: flow.TriesLeftRead(3),
        "signed": lambda: flow.Signed(b"S" * 256),
        "verified": lambda: flow.SignatureVerified(),
        "enqueued": lambda: flow.Enqueued(engine.session.enrollment_id or "", "AB1-CD2-EF3"),
        "accepted": lambda: flow.Submitted("accepted", mykey_id="MK12AB34"),
        "printed": lambda: flow.Printed(),
        "removed": lambda: flow.CardRemoved(),
    }
    rss: dict[str, int] = {}

    def record_rss(label: str) -> None:
        import gc

        gc.collect()
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                rss[label] = int(line.split()[1])

    hooks = {"dev": lambda name: engine.dispatch(answers[name]()), "rss": record_rss}
    script: list[list[Any]] = []
    from kiosk.i18n import LANGUAGES

    for number in range(1, args.sessions + 1):
        if getattr(args, "languages", False):  # bench_languages: each session in the next one
            lang = LANGUAGES[number % len(LANGUAGES)]
            script += [["wait", "welcome"], ["tap", "lang"], ["tap", f"lang:{lang}"]]
        script += session_script(number == 1)
        if number in (10, args.sessions):
            script.append(["hook", "rss", str(number)])
    if args.fast:
        autopilot.TAP_SECONDS = 0.0
    out = Path(args.out)

    def finish(report: dict[str, Any]) -> None:
        report["rss_kib"] = rss
        report["frame_interval"] = frame_intervals
        out.write_text(json.dumps(report, default=str))
        app.stop()

    frame_intervals: list[float] = []
    last_flip = [0.0]

    def idle_frames(_dt: float) -> None:
        """The frame interval when every frame is redrawn but nothing changes (baseline)."""
        from kivy.core.window import Window

        redraw = Clock.schedule_interval(lambda _dt: Window.canvas.ask_update(), 0)

        def on_flip(*_a: Any) -> None:
            now = time.perf_counter()
            if last_flip[0]:
                frame_intervals.append(now - last_flip[0])
            last_flip[0] = now
            if len(frame_intervals) >= 30:
                Window.unbind(on_flip=on_flip)
                redraw.cancel()
                Clock.schedule_once(lambda _dt: pilot.start(), 0)

        Window.bind(on_flip=on_flip)

    pilot = Autopilot(app, script, out.parent / "shots", hooks, finish)
    if args.sessions > 1 and not args.fast:
        Clock.schedule_once(idle_frames, 0.5)
    else:
        Clock.schedule_once(lambda _dt: pilot.start(), 0)
    app.run()
    return 0


def empty_window_child(size: str = "") -> int:
    """Baseline for cold start: import Kivy, open a window, draw one frame, exit."""
    if size:
        from kivy.config import Config

        width, height = size.split("x")
        Config.set("graphics", "width", width)
        Config.set("graphics", "height", height)
    from kivy.app import App
    from kivy.clock import Clock
    from kivy.uix.widget import Widget

    class Empty(App):
        def build(self) -> Widget:
            return Widget()

        def on_start(self) -> None:
            Clock.schedule_once(lambda _dt: print(f"drawn {time.monotonic()}"), 0)
            Clock.schedule_once(lambda _dt: (print(f"rss_kib {vm_rss_kib()}"), self.stop()), 0.5)

    Empty().run()
    return 0


def vm_rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def empty_window_rss(env: dict[str, str], size: str) -> float:
    """The floor: VmRSS (KiB) of a process that imported Kivy and drew an empty window."""
    done = subprocess.run(
        [sys.executable, __file__, "--empty", "--size", size],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return float(done.stdout.split("rss_kib ")[-1].split()[0])


# --- the parent: measurements ------------------------------------------------------------
def run_child(env: dict[str, str], extra: list[str], out: Path) -> tuple[float, dict[str, Any]]:
    started = time.monotonic()
    subprocess.run(
        [sys.executable, __file__, "--child", "--out", str(out), *extra],
        env=env,
        check=True,
        timeout=3600,
        stdout=subprocess.DEVNULL,
    )
    return started, json.loads(out.read_text())


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=300)
    parser.add_argument("--size", default="1280x800")
    parser.add_argument(
        "--memory-size", default="800x480", help="window of the many-sessions run (faster frames)"
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--empty", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--fast", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--languages", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--out", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.empty:
        return empty_window_child(args.size if "--size" in sys.argv else "")
    if args.child:
        return child(args)

    from sim.display import VirtualDisplay

    work = Path(tempfile.mkdtemp(prefix="bench-ui-"))
    with VirtualDisplay(1920, 1080) as display:
        env = display.env()
        env["PYTHONPATH"] = str(REPO)

        cold, empty = [], []
        for n in range(3):
            started, report = run_child(
                env, ["--sessions", "1", "--size", args.size], work / f"c{n}.json"
            )
            cold.append(report["first_step_at"] - started)
            t0 = time.monotonic()
            done = subprocess.run(
                [sys.executable, __file__, "--empty"],
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
                check=True,
            )
            drawn = float(done.stdout.split("drawn ")[-1].split()[0])
            empty.append(drawn - t0)

        _, latency = run_child(env, ["--sessions", "10", "--size", args.size], work / "lat.json")
        touches = latency["touch_to_drawn"]
        frames = latency["frame_interval"]

        t_mem = time.monotonic()
        _, memory = run_child(
            env,
            ["--sessions", str(args.sessions), "--size", args.size, "--fast"],
            work / "mem.json",
        )
        mem_seconds = time.monotonic() - t_mem
        floor = empty_window_rss(env, args.size)

    rss = memory["rss_kib"]
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
        f"Xvfb + llvmpipe; window {args.size}"
    )
    print(
        f"cold start to interactive welcome: median {statistics.median(cold):.2f} s "
        f"(runs {', '.join(f'{c:.2f}' for c in cold)}); "
        f"baseline empty Kivy window {statistics.median(empty):.2f} s; "
        f"ratio {statistics.median(cold) / statistics.median(empty):.2f}"
    )
    p50, p95 = percentile(touches, 0.5) * 1000, percentile(touches, 0.95) * 1000
    print(
        f"touch to next screen drawn over 10 enrollments ({len(touches)} touches): "
        f"p50 {p50:.0f} ms, p95 {p95:.0f} ms; "
        f"baseline frame interval p50 {percentile(frames, 0.5) * 1000:.0f} ms; "
        f"ratio p50 {percentile(touches, 0.5) / percentile(frames, 0.5):.1f}"
    )
    first, last = rss.get("10"), rss.get(str(args.sessions))
    print(
        f"resident memory after 10 sessions {first / 1024:.1f} MiB, after {args.sessions} "
        f"{last / 1024:.1f} MiB; ratio {last / first:.3f} ({mem_seconds:.0f} s); "
        f"baseline empty Kivy window {floor / 1024:.1f} MiB (kiosk ÷ empty "
        f"{last / floor:.2f})"
    )
    if memory.get("error") or latency.get("error"):
        print(f"autopilot errors: {memory.get('error')} {latency.get('error')}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
