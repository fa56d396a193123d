"""Operator console page times with a national-scale database, against the same pages
on an empty one (ratio), measured in this one process.

    .venv/bin/python bench/bench_console.py [--kiosks 1000] [--enrollments 1000000] [--runs 20]

A real central service (SQLite, WAL, synchronous=FULL) is served in this process with
its operator listener; a logged-in operator fetches each page over HTTPS with
``requests`` (median of ``--runs``). First on an empty database (the baseline: TLS,
routing, templates, the session check), then after one bulk SQL statement per table
fills ``--kiosks`` heartbeats and ``--enrollments`` answered enrollments with their
applications, one in five a 健康保険証 registration instead (30 days of times, 3
campaigns, 6 services, 2 procedures, unique receipt numbers); one kiosk in 50 has an alert.
The database is generated, not ingested: ingest speed is ``bench_central.py``'s. The
service is then restarted, so the first charts page counts every hour of the 30-day
window once (reported alone); later pages count only the hours since (see
``ConsoleData._hourly``).
"""

from __future__ import annotations

import argparse
import json
import platform
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sim.central import free_port, prepare_central  # noqa: E402
from sim.console_client import OperatorClient  # noqa: E402

PAGES = [
    ("kiosk list, page 1 of 10 (alerts first)", "/console/"),
    ("kiosk list, page 5", "/console/?page=5"),
    ("kiosk list, alerts only", "/console/?alerts=1"),
    ("charts", "/console/charts"),
    ("charts, one campaign and service", "/console/charts?campaign=2022-card&service=waon"),
    ("charts, one procedure", "/console/charts?procedure=health_insurance"),
    ("receipt lookup", "/console/lookup?receipt_no=R-00777777"),
    ("CSV export per day", "/console/export.csv?period=day"),
    ("CSV export per hour", "/console/export.csv"),
    ("/metrics", "/metrics"),
]


def fill(db: Path, kiosks: int, enrollments: int, now: float) -> float:
    """Bulk rows with one INSERT ... SELECT each; returns the seconds it took."""
    start = time.perf_counter()
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA foreign_keys=OFF")
    conn.execute("BEGIN")
    health = json.dumps(
        {
            "kiosk_version": "0.1.0",
            "queue_depth": 3,
            "printer": "ok",
            "reader": "ok",
            "oldest_pending_age_s": 12.0,
            "dead_items": 0,
        }
    )
    conn.execute(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)"
        " INSERT INTO kiosks (kiosk_id, last_seen, health)"
        " SELECT printf('K-%05d', i), ? - (i % 900), ? FROM n",
        (kiosks, now, health),
    )
    conn.execute(  # one kiosk in 50 has a dead item: an alert, listed first
        "UPDATE kiosks SET health = json_set(health, '$.dead_items', 1)"
        " WHERE CAST(substr(kiosk_id, 3) AS INTEGER) % 50 = 0"
    )
    conn.execute(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)"
        " INSERT INTO enrollments (enrollment_id, payload_digest, kiosk_id, receipt_no,"
        " status, answer, answered_at)"
        " SELECT printf('00000000-0000-4000-8000-%012d', i), printf('%064d', i),"
        " printf('K-%05d', i % ?), printf('R-%08d', i),"
        " CASE WHEN i % 10 = 0 THEN 'rejected' ELSE 'accepted' END,"
        ' CASE WHEN i % 10 = 0 THEN \'{"reason": "already_applied", "status": "rejected"}\''
        '  ELSE \'{"status": "accepted"}\' END,'
        " strftime('%Y-%m-%dT%H:%M:%SZ', ? - (i * 2.6) % 2592000, 'unixepoch') FROM n",
        (enrollments, kiosks, now),
    )
    conn.execute(
        "INSERT INTO applications (campaign_id, mykey_id, service_code, kiosk_id,"
        " enrollment_id, created_at)"
        " SELECT CASE rowid % 3 WHEN 0 THEN '2020' WHEN 1 THEN '2022-card'"
        "  ELSE '2022-health-insurance' END, printf('M%07d', rowid),"
        " CASE rowid % 6 WHEN 0 THEN 'waon' WHEN 1 THEN 'suica' WHEN 2 THEN 'paypay'"
        "  WHEN 3 THEN 'nanaco' WHEN 4 THEN 'rakuten' ELSE 'aupay' END,"
        " kiosk_id, enrollment_id, answered_at FROM enrollments WHERE status = 'accepted'"
        " AND rowid % 5 != 1",
    )
    conn.execute(  # one accepted answer in five: a 健康保険証 registration (issue 11)
        "INSERT INTO registrations (procedure, cert_ref, campaign_id, points, kiosk_id,"
        " enrollment_id, created_at)"
        " SELECT 'health_insurance', printf('C%07d', rowid), '2022-health-insurance', 7500,"
        " kiosk_id, enrollment_id, answered_at FROM enrollments WHERE status = 'accepted'"
        " AND rowid % 5 = 1",
    )
    conn.execute("COMMIT")
    conn.execute("ANALYZE")
    conn.close()
    return time.perf_counter() - start


def measure(client: OperatorClient, runs: int) -> dict[str, float]:
    out = {}
    for name, path in PAGES:
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            r = client.page(path)
            times.append(time.perf_counter() - start)
            assert r.status_code == 200, (path, r.status_code)
        out[name] = statistics.median(times) * 1000
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kiosks", type=int, default=1000)
    parser.add_argument("--enrollments", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        central = prepare_central(Path(tmp) / "central", operator_port=free_port())
        central.start_here()
        try:
            operators = central.server.config.app.state.operator_app.state.operators
            operators.add("bench-viewer", "bench password 1234", "viewer")
            client = OperatorClient(central)
            assert client.login("bench-viewer", "bench password 1234").status_code == 200
            empty = measure(client, args.runs)
            took = fill(central.database_file, args.kiosks, args.enrollments, time.time())
            central.stop()  # a fresh process: its hourly counts are not cached yet
            central.start_here()
            client = OperatorClient(central)
            assert client.login("bench-viewer", "bench password 1234").status_code == 200
            start = time.perf_counter()
            assert client.page("/console/charts").status_code == 200
            first = (time.perf_counter() - start) * 1000
            full = measure(client, args.runs)
        finally:
            central.stop()
    print(
        f"# {platform.node()} python {platform.python_version()}; {args.kiosks} kiosks,"
        f" {args.enrollments:,} enrollments generated in {took:.1f} s; median of {args.runs}"
    )
    print(f"first charts page after start (counts every hour of the window once): {first:.0f} ms")
    print("| page | empty database (ms) | full database (ms) | full ÷ empty |")
    print("|---|---|---|---|")
    for name, _ in PAGES:
        print(
            f"| {name} | {empty[name]:.1f} | {full[name]:.1f} | {full[name] / empty[name]:.1f}× |"
        )


if __name__ == "__main__":
    main()
