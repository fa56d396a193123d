"""More than one procedure (issue 11): what it costs a flow step and a kiosk's cold start.

    .venv/bin/python bench/bench_procedures.py [--sessions 2000] [--starts 7]

1. **Flow step, per session.** Three whole sessions through ``flow.step``, in this same
   process: today's Mynapoint enrollment with no procedures in the context (the baseline,
   the flow as it was), the same enrollment with the procedures registry in the context
   (what every step pays now), and a 健康保険証 registration (17 steps). Time per step
   (p50) and ``tracemalloc`` growth after N and 10*N sessions (a leak grows with N).
2. **Cold start, two procedures against one.** A fresh Python process imports the kiosk's
   pure tier (flow, views, controller, catalog), loads the catalog and a procedures file,
   and builds the welcome and the 行政サービス menu views: with the shipped file (the
   Mynapoint application, 健康保険証, 自治体マイナポイント, an info page, the status check)
   against a file holding only the Mynapoint application. Median of ``--starts`` processes each.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from contract import wire  # noqa: E402
from kiosk import flow as f  # noqa: E402
from kiosk.catalog import Catalog  # noqa: E402
from kiosk.procedures import Procedures  # noqa: E402

CERT = b"\x30\x82\x05\x00" + b"C" * 1400
TODAY = dt.date(2026, 11, 26)
ONE_PROCEDURE = '[[procedures]]\nid = "mynapoint"\nkind = "payment_service"\nstart = "apply"\n'


BEFORE = "a0fb969"  # the commit before issue 11: the flow as it was


def flow_before() -> object | None:
    """kiosk/flow.py as of BEFORE, loaded from git as its own module (None outside a clone)."""
    import importlib.util

    try:
        text = subprocess.run(
            ["git", "-C", str(ROOT), "show", f"{BEFORE}:kiosk/flow.py"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    spec = importlib.util.spec_from_loader("flow_before", loader=None)
    module = importlib.util.module_from_spec(spec)
    sys.modules["flow_before"] = module  # dataclasses look their module up
    exec(compile(text, "flow_before.py", "exec"), module.__dict__)
    return module


def enrollment(ctx, f=f) -> int:
    session = f.new_session(ctx)
    events = [
        f.Start(),
        f.AgreeTerms(),
        f.CardPlaced(),
        f.CertificateRead(CERT, 3),
        f.ServiceChosen("waon"),
        f.IdsEntered("1234567890123456", ("1234",)),
        f.Confirmed(),
        f.TriesLeftRead(3),
        f.PinEntered(bytearray(b"1234")),
        f.Signed(b"S" * 256),
        f.SignatureVerified(),
    ]
    for event in events:
        session, _ = f.step(session, event, ctx)
    tail = [
        f.Enqueued(session.enrollment_id, "AB12-CD34"),
        f.Submitted(wire.ACCEPTED, "MK12AB34"),
        f.Done(),
        f.Printed(),
        f.Tick(),
        f.Tick(),
        f.Tick(),
        f.Tick(),
        f.CardRemoved(),
    ]
    for event in tail:
        session, _ = f.step(session, event, ctx)
    assert session.state == f.WELCOME
    return len(events) + len(tail)


def registration(ctx: f.FlowContext) -> int:
    session = f.new_session(ctx)
    events = [
        f.Start(f.MENU_SERVICES),
        f.Start("health_insurance"),
        f.AgreeTerms(),
        f.CardPlaced(),
        f.CertificateRead(CERT, 3),
        f.Confirmed(),
        f.TriesLeftRead(3),
        f.PinEntered(bytearray(b"1234")),
        f.Signed(b"S" * 256),
        f.SignatureVerified(),
    ]
    for event in events:
        session, _ = f.step(session, event, ctx)
    tail = [
        f.Enqueued(session.enrollment_id, "HI12-CD34"),
        f.Submitted(wire.ACCEPTED),
        f.Done(),
        f.Printed(),
        f.Tick(),
        f.CardRemoved(),
    ]
    for event in tail:
        session, _ = f.step(session, event, ctx)
    assert session.state == f.WELCOME
    return len(events) + len(tail)


def per_step(run, ctx: f.FlowContext, sessions: int) -> tuple[float, int]:
    steps = run(ctx)
    samples = []
    for _ in range(sessions):
        start = time.perf_counter()
        run(ctx)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) / steps, steps


def growth(run, ctx: f.FlowContext, sessions: int) -> int:
    gc.collect()
    tracemalloc.start()
    start = tracemalloc.get_traced_memory()[0]
    for _ in range(sessions):
        run(ctx)
    gc.collect()
    grown = tracemalloc.get_traced_memory()[0] - start
    tracemalloc.stop()
    return grown


COLD = """
import sys, time, datetime as dt
t0 = time.perf_counter()
sys.path.insert(0, {root!r})
from kiosk import flow, views
from kiosk import controller  # noqa: F401  (the kiosk imports it at start)
from kiosk.catalog import Catalog
from kiosk.procedures import Procedures
ctx = flow.FlowContext(kiosk_id="K", catalog=Catalog.load(), today=dt.date(2026, 11, 26),
                       procedures=Procedures.load({path!r}))
session = flow.new_session(ctx)
views.view_of(session, ctx)
session, _ = flow.step(session, flow.Start(flow.MENU_SERVICES), ctx)
views.view_of(session, ctx)
print(time.perf_counter() - t0)
"""


def cold_start(path: Path) -> float:
    code = COLD.format(root=str(ROOT), path=str(path))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(done.stdout)


def cold_starts(one: Path, shipped: Path, starts: int) -> tuple[float, float]:
    """Medians of ``starts`` fresh processes each, interleaved so drift hits both alike."""
    cold_start(shipped)  # warm the page cache and the bytecode
    pairs = [(cold_start(one), cold_start(shipped)) for _ in range(starts)]
    return statistics.median(p[0] for p in pairs), statistics.median(p[1] for p in pairs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=2000)
    parser.add_argument("--starts", type=int, default=7)
    args = parser.parse_args()
    catalog = Catalog.load()
    today = f.FlowContext(kiosk_id="K-0001", catalog=catalog, today=TODAY)
    now = f.FlowContext(
        kiosk_id="K-0001", catalog=catalog, today=TODAY, procedures=Procedures.load()
    )
    old = flow_before()
    if old is not None:
        then = old.FlowContext(kiosk_id="K-0001", catalog=catalog, today=TODAY)
        before, _ = per_step(lambda ctx: enrollment(ctx, old), then, args.sessions)
    base, n_base = per_step(enrollment, today, args.sessions)
    with_procs, _ = per_step(enrollment, now, args.sessions)
    health, n_health = per_step(registration, now, args.sessions)
    print(f"{args.sessions} sessions each, python {sys.version.split()[0]}")
    if old is not None:
        print(f"enrollment, the flow before issue 11 ({BEFORE})   p50/step {before * 1e6:6.2f} us")
        base = before
    print(
        f"enrollment ({n_base} steps), no procedures in context p50/step {base * 1e6:6.2f} us"
        if old is None
        else f"enrollment, new flow, no procedures in context  p50/step"
        f" {per_step(enrollment, today, args.sessions)[0] * 1e6:6.2f} us"
    )
    print(
        f"same enrollment, procedures in context        p50/step {with_procs * 1e6:6.2f} us"
        f"  ratio {with_procs / base:5.2f}"
    )
    print(
        f"健康保険証 registration ({n_health} steps)           p50/step {health * 1e6:6.2f} us"
        f"  ratio {health / base:5.2f}"
    )
    for name, run, ctx in (("enrollment", enrollment, today), ("registration", registration, now)):
        small, large = growth(run, ctx, args.sessions // 10), growth(run, ctx, args.sessions)
        print(
            f"memory growth {name:12s} after {args.sessions // 10:5d}: {small / 1024:6.1f} KiB,"
            f" after {args.sessions:5d}: {large / 1024:6.1f} KiB;"
            f" per session {large / args.sessions:6.1f} B"
        )
    with tempfile.TemporaryDirectory() as tmp:
        one = Path(tmp) / "one.toml"
        one.write_text(ONE_PROCEDURE, encoding="utf-8")
        from kiosk.procedures import PROCEDURES_FILE

        single, shipped = cold_starts(one, PROCEDURES_FILE, args.starts)
        shipped_list = Procedures.load(PROCEDURES_FILE)
    print(f"cold start (pure tier + first views), 1 procedure  median {single * 1e3:6.1f} ms")
    print(
        f"cold start, shipped {len(shipped_list.menu())} ({len(shipped_list.signed())} that sign)"
        f"        median {shipped * 1e3:6.1f} ms"
        f"  ratio {shipped / single:5.2f}"
    )


if __name__ == "__main__":
    main()
