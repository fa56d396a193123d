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
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import urllib3

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from contract.wire import BATCH_PATH, batch_body, seal_for_central  # noqa: E402
from offline_queue.store import verify_card_signature  # noqa: E402
from offline_queue.sync import SyncWorker  # noqa: E402
from offline_queue.transport import mtls_context  # noqa: E402
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


class Probe:
    """Wall and CPU time of the worker's two halves, measured in place around the calls:
    the ledger (SQLite: claim, record, their commits) and the request (building the body,
    TLS, waiting for the central answer, parsing it)."""

    def __init__(self, worker: SyncWorker) -> None:
        self.wall = {"ledger": 0.0, "request": 0.0}
        self.cpu = {"ledger": 0.0, "request": 0.0}
        self.batches: list[list] = []
        ledger, client = worker.ledger, worker.client
        ledger.claim_due = self._timed("ledger", ledger.claim_due)
        ledger.record_results = self._timed("ledger", ledger.record_results)
        post = self._timed("request", client.post_batch)

        def post_batch(items: list) -> object:
            self.batches.append(items)
            return post(items)

        client.post_batch = post_batch

    def _timed(self, half: str, method: Callable) -> Callable:
        def timed(*args: object, **kwargs: object) -> object:
            wall, cpu = time.perf_counter(), time.process_time()
            try:
                return method(*args, **kwargs)
            finally:
                self.wall[half] += time.perf_counter() - wall
                self.cpu[half] += time.process_time() - cpu

        return timed


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of another process, all its threads (from /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def replay_cpu_per_item(central: CentralService, batches: list[list]) -> float:
    """Baseline: the same batches' bytes, encoded beforehand, posted over one kept-alive
    mutual-TLS connection (the least a client must do: TLS, HTTP, read the answer).
    The central service answers them from its record. Kiosk CPU seconds per item."""
    pool = urllib3.HTTPSConnectionPool(
        "127.0.0.1",
        central.port,
        ssl_context=mtls_context(central.ca_cert, central.client_cert, central.client_key),
        maxsize=1,
        retries=False,
    )
    bodies = [json.dumps(batch_body([i.wire() for i in items])).encode() for items in batches]
    headers = {"Content-Type": "application/json"}
    assert pool.urlopen("POST", BATCH_PATH, body=bodies[0], headers=headers).data  # handshake
    cpu = time.process_time()
    for body in bodies:
        response = pool.urlopen("POST", BATCH_PATH, body=body, headers=headers)
        assert response.status == 200 and response.data
    spent = time.process_time() - cpu
    pool.close()
    return spent / sum(len(items) for items in batches)


def bench_sync(directory: Path, n: int, online_samples: int) -> None:
    central = start_central(directory)
    try:
        print(f"\n## Sync throughput to a local central service ({n} enrollments per run)\n")
        print(
            "| batch size | seconds | enrollments/s | kiosk CPU ms/item | (ledger | request)"
            " | central CPU ms/item | ledger wall ms/item | request wall ms/item"
            " | kiosk-bound /s | baseline CPU ms/item | kiosk CPU / baseline | TLS connections |"
        )
        print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        for batch_size in (1, 100):
            db = directory / f"sync-{batch_size}.sqlite3"
            with central_outbox(central, db) as outbox:
                for _ in range(n):
                    enroll_valid(outbox, central)
                client = central_client(central)
                worker = quick_worker(db, client, batch_size=batch_size)
                probe = Probe(worker)
                central_cpu = process_cpu_s(central.process.pid)
                cpu, start = time.process_time(), time.perf_counter()
                while outbox.status().counts["accepted"] < n:
                    report = worker.run_once()
                    assert not report.failed_batches, report
                elapsed = time.perf_counter() - start
                kiosk_cpu = time.process_time() - cpu
                central_cpu = process_cpu_s(central.process.pid) - central_cpu
                connections = client.connections_opened
                worker.close()
            baseline = replay_cpu_per_item(central, probe.batches)
            # the kiosk's own time: the ledger whole, and the request's CPU (not its wait)
            own = (probe.wall["ledger"] + probe.cpu["request"]) / n
            print(
                f"| {batch_size} | {elapsed:.2f} | {n / elapsed:.0f} | {kiosk_cpu / n * 1e3:.3f}"
                f" | {probe.cpu['ledger'] / n * 1e3:.3f} | {probe.cpu['request'] / n * 1e3:.3f}"
                f" | {central_cpu / n * 1e3:.3f} | {probe.wall['ledger'] / n * 1e3:.3f}"
                f" | {probe.wall['request'] / n * 1e3:.3f} | {1 / own:.0f}"
                f" | {baseline * 1e3:.3f} | {kiosk_cpu / n / baseline:.2f} | {connections} |"
            )
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
