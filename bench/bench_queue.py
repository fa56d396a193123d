"""Queue and sync figures: enqueue latency FULL against NORMAL, sync throughput, online answer.

    .venv/bin/python bench/bench_queue.py [--enqueues 400] [--sync-items 300] [--online 30]

1. Enqueue latency (verify the card signature, HPKE-seal, commit) with
   ``synchronous=FULL`` (what the kiosk runs) against ``NORMAL`` (what it must not run),
   interleaved one by one in the same process on the same disk, so the ratio is fair.
   "seal only" is the same work without the database: the floor under both.
2. Sync throughput to a real local central service (HTTPS + mutual TLS on loopback,
   SQLite): enrollments per second delivered with batches of 1 and of 100.
3. Online answer: a running ``mynapoint-sync`` process, woken by the enqueue; time from
   ``enqueue`` returning to the accepted answer being readable in the kiosk's database.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from contract.wire import seal_for_central  # noqa: E402
from offline_queue.store import verify_card_signature  # noqa: E402
from sim.central import CentralService, start_central  # noqa: E402
from sim.enrollments import (  # noqa: E402
    CentralSealingKey,
    central_client,
    central_outbox,
    enroll_valid,
    make_outbox,
    new_card,
    quick_worker,
    signed_enrollment,
    stop,
    sync_process,
    sync_until_settled,
)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f}"


def bench_enqueue(directory: Path, n: int) -> None:
    key = CentralSealingKey.generate()
    boxes = {
        mode: make_outbox(directory / f"enqueue-{mode}.sqlite3", [key.public], synchronous=mode)
        for mode in ("FULL", "NORMAL")
    }
    work = {mode: [signed_enrollment(new_card()) for _ in range(n)] for mode in boxes}
    seal_only = [signed_enrollment(new_card()) for _ in range(n)]
    times: dict[str, list[float]] = {"FULL": [], "NORMAL": [], "seal only": []}
    for i in range(n):
        for mode, box in boxes.items():
            start = time.perf_counter()
            box.enqueue(*work[mode][i].args())
            times[mode].append(time.perf_counter() - start)
        e = seal_only[i]
        start = time.perf_counter()
        verify_card_signature(e.payload, e.certificate_der, e.signature)
        seal_for_central(key.public, e.payload, e.certificate_der, e.signature)
        times["seal only"].append(time.perf_counter() - start)
    for box in boxes.values():
        box.close()
    full_p50 = percentile(times["FULL"], 50)
    print(f"\n## Enqueue latency ({n} each, interleaved; ms)\n")
    print("| mode | p50 | p99 | mean | p50 / FULL p50 |")
    print("|---|---|---|---|---|")
    for mode, values in times.items():
        p50 = percentile(values, 50)
        print(
            f"| {mode} | {ms(p50)} | {ms(percentile(values, 99))} |"
            f" {ms(statistics.fmean(values))} | {p50 / full_p50:.2f} |"
        )


def bench_sync(directory: Path, n: int, online_samples: int) -> None:
    central = start_central(directory)
    try:
        print(f"\n## Sync throughput to a local central service ({n} enrollments per run)\n")
        print("| batch size | seconds | enrollments/s |")
        print("|---|---|---|")
        for batch_size in (1, 100):
            db = directory / f"sync-{batch_size}.sqlite3"
            with central_outbox(central, db) as outbox:
                for _ in range(n):
                    enroll_valid(outbox, central)
                worker = quick_worker(db, central_client(central), batch_size=batch_size)
                start = time.perf_counter()
                sync_until_settled(worker, outbox, timeout_s=600)
                elapsed = time.perf_counter() - start
                worker.close()
                accepted = outbox.status().counts["accepted"]
            assert accepted == n, f"only {accepted} of {n} accepted"
            print(f"| {batch_size} | {elapsed:.2f} | {n / elapsed:.1f} |")
        bench_online(directory, central, online_samples)
    finally:
        central.stop()


def bench_online(directory: Path, central: CentralService, samples: int) -> None:
    db = directory / "online.sqlite3"
    with central_outbox(central, db) as outbox:
        sync = sync_process(central, db, "--idle-poll", "60")
        try:
            time.sleep(1.0)
            waits, in_db = [], []
            for _ in range(samples):
                queued = enroll_valid(outbox, central)
                start = time.perf_counter()
                answer = outbox.wait_for_answer(queued.enrollment_id, timeout_s=10)
                waits.append(time.perf_counter() - start)
                assert answer is not None and answer.state == "accepted", answer
                assert answer.answered_at is not None
                in_db.append(answer.answered_at - answer.enqueued_at)
        finally:
            stop(sync)
    print(f"\n## Online answer ({samples} runs; idle poll 60 s, so only the wake explains these)\n")
    print(
        f"enqueue commit -> answer committed in the kiosk DB: p50 {ms(percentile(in_db, 50))} ms,"
        f" p99 {ms(percentile(in_db, 99))} ms, max {ms(max(in_db))} ms"
    )
    print(
        f"enqueue returned -> wait_for_answer returned (polls every 20 ms):"
        f" p50 {ms(percentile(waits, 50))} ms, p99 {ms(percentile(waits, 99))} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--enqueues", type=int, default=400)
    parser.add_argument("--sync-items", type=int, default=300)
    parser.add_argument("--online", type=int, default=30)
    parser.add_argument(
        "--dir", type=Path, default=None, help="where the databases go (default: /var/tmp)"
    )
    args = parser.parse_args()
    directory = Path(tempfile.mkdtemp(prefix="bench-queue-", dir=args.dir or "/var/tmp"))
    print(
        f"# Queue benchmark ({platform.python_implementation()} {platform.python_version()},"
        f" {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}, databases in {directory})"
    )
    try:
        bench_enqueue(directory, args.enqueues)
        bench_sync(directory, args.sync_items, args.online)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
