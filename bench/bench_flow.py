"""The session flow's own cost: one whole enrollment through ``flow.step``, against the
one piece of work it cannot avoid, and memory after many sessions (a leak shows as growth).

    .venv/bin/python bench/bench_flow.py [--sessions 2000]

Baseline, in this same process: building the canonical payload and its SHA-256 digest
(``wire.new_payload`` + ``wire.payload_digest``), which every enrollment needs once per
PIN attempt whatever the flow looks like. The flow figure is all 20 steps of one
accepted enrollment (welcome to the next welcome, device answers simulated), so the
ratio flow / baseline says how much the state machine adds around that. Memory is
``tracemalloc``'s current size after N and after 10*N whole sessions: a ratio near 1
means ended sessions leave nothing behind.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import platform
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from contract import wire  # noqa: E402
from kiosk import flow as f  # noqa: E402
from kiosk.catalog import Catalog  # noqa: E402

CERT = b"\x30\x82\x05\x00" + b"C" * 1400


def one_session(ctx: f.FlowContext) -> f.Session:
    session = f.new_session(ctx)
    steps = [
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
    for event in steps:
        session, _ = f.step(session, event, ctx)
    session, _ = f.step(session, f.Enqueued(session.enrollment_id, "AB12-CD34"), ctx)
    for event in (f.Submitted(wire.ACCEPTED, mykey_id="MK12AB34"), f.Done(), f.Printed()):
        session, _ = f.step(session, event, ctx)
    for event in (f.Tick(), f.Tick(), f.Tick(), f.Tick(), f.CardRemoved()):
        session, _ = f.step(session, event, ctx)
    assert session.state == f.WELCOME
    return session


def baseline() -> bytes:
    payload = wire.new_payload(
        kiosk_id="K-0001",
        campaign_id="demo-2026",
        service_code="waon",
        service_user_id="1234567890123456",
        security_codes=["1234"],
    )
    return wire.payload_digest(payload)


def timed(action, repeat: int) -> list[float]:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        samples.append(time.perf_counter() - start)
    return samples


def memory_after(ctx: f.FlowContext, sessions: int) -> int:
    gc.collect()
    tracemalloc.start()
    start = tracemalloc.get_traced_memory()[0]
    for _ in range(sessions):
        one_session(ctx)
    gc.collect()
    grown = tracemalloc.get_traced_memory()[0] - start
    tracemalloc.stop()
    return grown


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=2000)
    args = parser.parse_args()
    ctx = f.FlowContext(kiosk_id="K-0001", catalog=Catalog.load(), today=dt.date(2026, 11, 26))
    one_session(ctx)  # warm up
    base = timed(baseline, args.sessions)
    flow_times = timed(lambda: one_session(ctx), args.sessions)
    b50, f50 = statistics.median(base), statistics.median(flow_times)
    f95 = statistics.quantiles(flow_times, n=20)[-1]
    print(f"python {platform.python_version()} on {platform.machine()}, {args.sessions} sessions")
    print(f"baseline payload+digest   p50 {b50 * 1e6:8.1f} us")
    print(f"whole session (20 steps)  p50 {f50 * 1e6:8.1f} us  p95 {f95 * 1e6:8.1f} us")
    print(f"per step                  p50 {f50 / 20 * 1e6:8.1f} us")
    print(f"ratio session / baseline  {f50 / b50:8.1f}")
    small = memory_after(ctx, args.sessions // 10)
    large = memory_after(ctx, args.sessions)
    print(f"memory growth after {args.sessions // 10} sessions {small / 1024:8.1f} KiB")
    print(f"memory growth after {args.sessions} sessions {large / 1024:8.1f} KiB")
    print(f"ratio (x10 sessions)      {large / max(small, 1):8.2f}")


if __name__ == "__main__":
    main()
