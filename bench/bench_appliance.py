"""What the appliance's plumbing costs the kiosk: notify, heartbeat, install.

    .venv/bin/python bench/bench_appliance.py [--pings 2000] [--beats 30]

1. One sd_notify datagram (``notify.watchdog()``: a new socket per message) against
   the baseline of a datagram on a socket kept open, and against one 60 fps frame.
2. ``Heartbeat.send()`` as the Kivy thread sees it (hand-off to the worker thread)
   against the baseline of the same post done synchronously, to the real central
   service over mutual TLS.
3. ``scripts/install.sh --root`` (a wheelhouse, ``--no-deps``) first run against the
   second, idempotent run. Needs root; skipped otherwise.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kiosk import notify  # noqa: E402
from kiosk.heartbeat import Health, Heartbeat  # noqa: E402
from sim.appliance import (  # noqa: E402
    INSTALL,
    base_python,
    build_wheelhouse,
    debian_like_root,
    install_env,
)
from sim.central import start_central  # noqa: E402

FRAME_S = 1 / 60
HEALTH = Health("0.1.0", 3, 12.5, "ok", "ok", None)


def ms(values: list[float]) -> tuple[float, float]:
    values = sorted(values)
    return statistics.median(values) * 1e3, values[int(len(values) * 0.99) - 1] * 1e3


def bench_notify(pings: int) -> None:
    with (
        tempfile.TemporaryDirectory() as tmp,
        socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as listener,
    ):
        path = os.path.join(tmp, "notify.sock")
        listener.bind(path)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        os.environ["NOTIFY_SOCKET"] = path
        ours, kept = [], []
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as open_sock:
            open_sock.connect(path)
            for _ in range(pings):
                t = time.perf_counter()
                notify.watchdog()
                ours.append(time.perf_counter() - t)
                t = time.perf_counter()
                open_sock.send(b"WATCHDOG=1")
                kept.append(time.perf_counter() - t)
                listener.recv(64)
                listener.recv(64)
        del os.environ["NOTIFY_SOCKET"]
    (o50, o99), (k50, k99) = ms(ours), ms(kept)
    print(f"\n## sd_notify datagram ({pings} each, interleaved; ms)\n")
    print("| how | p50 | p99 | p50 / kept-open p50 | p50 / 60 fps frame |")
    print("|---|---|---|---|---|")
    frame_share = o50 / 1e3 / FRAME_S
    print(f"| notify.watchdog() | {o50:.4f} | {o99:.4f} | {o50 / k50:.1f} | {frame_share:.5f} |")
    print(
        f"| socket kept open (baseline) | {k50:.4f} | {k99:.4f} | 1.0 | {k50 / 1e3 / FRAME_S:.5f} |"
    )


def bench_heartbeat(beats: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        central = start_central(Path(tmp))
        try:
            hb = Heartbeat.over_mtls(
                central.base_url, central.ca_cert, central.client_cert, central.client_key
            )
            handoff, synchronous = [], []
            hb.send(HEALTH).result(timeout=30)  # TLS session warm
            for _ in range(beats):
                t = time.perf_counter()
                future = hb.send(HEALTH)
                handoff.append(time.perf_counter() - t)
                future.result(timeout=30)
                t = time.perf_counter()
                hb._post(HEALTH.body())
                synchronous.append(time.perf_counter() - t)
            hb.close()
        finally:
            central.stop()
    (h50, h99), (s50, s99) = ms(handoff), ms(synchronous)
    print(f"\n## Heartbeat, as the Kivy thread sees it ({beats} each, interleaved; ms)\n")
    print("| how | p50 | p99 | p50 / synchronous p50 |")
    print("|---|---|---|---|")
    print(f"| Heartbeat.send() (hand-off) | {h50:.3f} | {h99:.3f} | {h50 / s50:.4f} |")
    print(f"| the post itself, synchronous (baseline) | {s50:.3f} | {s99:.3f} | 1.0 |")


def bench_install() -> None:
    if os.geteuid() != 0:
        print("\n## install.sh: skipped (needs root)")
        return
    with tempfile.TemporaryDirectory() as tmp:
        wheels = build_wheelhouse(Path(tmp))
        root = debian_like_root(Path(tmp) / "root")
        args = ["bash", str(INSTALL), "--root", str(root), "--python", base_python()]
        args += ["--wheelhouse", str(wheels)]
        times = []
        for _ in range(2):
            t = time.perf_counter()
            subprocess.run(args, check=True, capture_output=True, env=install_env(), timeout=600)
            times.append(time.perf_counter() - t)
    print("\n## install.sh --root (wheelhouse, --no-deps; s)\n")
    print("| run | time | / first run |")
    print("|---|---|---|")
    print(f"| first | {times[0]:.2f} | 1.0 |")
    print(f"| second (idempotent, nothing changed) | {times[1]:.2f} | {times[1] / times[0]:.3f} |")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pings", type=int, default=2000)
    parser.add_argument("--beats", type=int, default=30)
    args = parser.parse_args()
    print(f"load average: {os.getloadavg()[0]:.1f}, cores: {os.cpu_count()}")
    bench_notify(args.pings)
    bench_heartbeat(args.beats)
    bench_install()


if __name__ == "__main__":
    main()
