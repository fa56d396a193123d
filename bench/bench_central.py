"""Central ingest: CPU per enrollment against the CPU of the checks no service can avoid.

    .venv/bin/python bench/bench_central.py [--items 1000] [--batches 100,1] [--clients 4]
                                            [--backends sqlite,postgresql] [--workers 1,2]

The baseline, measured in this same process on the same items just before each set-up
runs: per item, the card's PKCS#1 v1.5 RSA-2048 signature, its certificate chain to a
trusted JPKI CA (another RSA-2048 verify, dates, CRL lookup) and opening the HPKE seal.
Ingest is the real ``mynapoint-central`` process(es) fed batches by ``--clients``
concurrent kiosks (threads here): SQLite is one process on HTTPS with mutual TLS
(WAL, synchronous=FULL); PostgreSQL (fsync on) is ``--workers`` processes behind Debian's
nginx with the shipped config (nginx terminates the mutual TLS), as in production.

On a 2-core machine that the clients, nginx and PostgreSQL share, wall throughput says
little about the service, so the figure that counts is **CPU-seconds of the central
process(es) per 1,000 enrollments** (utime + stime from /proc), divided by the
baseline's CPU-seconds for the same items. A second pass with ``stage_cpu = true``
splits the central CPU by stage (``mynapoint_ingest_cpu_seconds_total`` from each
worker's /metrics); HTTP+TLS+framework is the process total less the stages. On
PostgreSQL: nginx's and the database's CPU per 1,000, lock waits (log_lock_waits with
deadlock_timeout 10 ms, pg_locks sampled every 20 ms), deadlocks and conflicts
(pg_stat_database), and the service's own count of writes that met an id already
answered (``mynapoint_store_races_total``) and of retry answers.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import re
import secrets
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import requests  # noqa: E402
from cryptography import x509  # noqa: E402

from central.sealing import SealingKeyring  # noqa: E402
from central.service import STAGES  # noqa: E402
from central.trust import JpkiVerifier  # noqa: E402
from contract import wire  # noqa: E402
from sim.central import CentralService, card_sign, free_port, prepare_central  # noqa: E402
from sim.nginx import NginxCentral  # noqa: E402
from sim.pki import TestPKI  # noqa: E402
from sim.postgres import PostgresCluster  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")
KEYS = 8  # card keys, shared: a card is told apart by its CA and serial, and a key takes 0.1 s


def make_items(
    svc: CentralService, n: int, tag: str = ""
) -> list[tuple[dict[str, Any], bytes, bytes, bytes]]:
    """n signed, sealed items, each of another person with an account of their own, as
    the programme's enrollments mostly are: (outer item, certificate DER, signature,
    digest)."""
    keys = [svc.pki.issue_card().key for _ in range(KEYS)]
    accounts = svc._accounts()
    items = []
    for i in range(n):
        card = svc.pki.issue_card(key=keys[i % KEYS])
        user_id = "".join(secrets.choice("0123456789") for _ in range(16))
        codes = ["".join(secrets.choice("0123456789") for _ in range(4))]
        accounts["accounts"].append(
            {"service_code": "waon", "service_user_id": user_id, "security_codes": codes}
        )
        payload = wire.new_payload(
            kiosk_id=svc.kiosk_id,
            campaign_id=f"bench{tag}",
            service_code="waon",
            service_user_id=user_id,
            security_codes=codes,
        )
        digest = wire.payload_digest(payload)
        signature = card_sign(card, digest)
        items.append(
            (
                svc.seal_item(card, payload, signature=signature),
                card.certificate_der,
                signature,
                digest,
            )
        )
    svc._write_accounts(accounts)
    return items


def raw_cpu_per_1000(svc: CentralService, items: list) -> tuple[float, float]:
    """(CPU-s per 1,000 of signature+chain checks, of HPKE opens), single thread."""
    verifier = JpkiVerifier.from_paths([svc.directory / "jpki-trust.pem"], svc.crl_dir)
    start = time.thread_time()
    for _, cert_der, signature, digest in items:
        cert = x509.load_der_x509_certificate(cert_der)
        JpkiVerifier.check_signature(cert, digest, signature)
        verifier.check_certificate(cert_der, parsed=cert)
    checks = time.thread_time() - start
    keyring = SealingKeyring.load(svc.directory / "sealing")
    start = time.thread_time()
    for item, *_ in items:
        keyring.open(item["key_id"], item["enrollment_id"], wire.b64d(item["sealed"]))
    hpke = time.thread_time() - start
    return 1000 * checks / len(items), 1000 * hpke / len(items)


# -- CPU of processes, from /proc ---------------------------------------------------------
def _stat(pid: int) -> list[str] | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def tree_cpu(root: int, with_children: bool = True) -> dict[int, float]:
    """pid -> CPU-seconds so far of ``root`` and (``with_children``) every process under
    it; the root's own entry also counts its children that have exited."""
    cpu: dict[int, float] = {}
    fields = _stat(root)
    if fields is None:
        return cpu
    cpu[root] = sum(int(f) for f in fields[11:15]) / TICK  # utime stime cutime cstime
    if with_children:
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit() and (f := _stat(int(entry.name))) and int(f[1]) == root:
                cpu[int(entry.name)] = (int(f[11]) + int(f[12])) / TICK
    return cpu


def cpu_since(before: dict[int, float], after: dict[int, float]) -> float:
    return sum(after[p] - before.get(p, 0.0) for p in after)


# -- PostgreSQL's own view of waiting ------------------------------------------------------
class LockWatch:
    """Lock waits while ingest runs: pg_locks sampled, log_lock_waits lines counted,
    deadlocks and conflicts from pg_stat_database."""

    def __init__(self, cluster: PostgresCluster, dsn: str) -> None:
        import psycopg

        self.cluster, self.dsn = cluster, dsn
        self.conn = psycopg.connect(dsn, autocommit=True)
        self.samples = self.waiting_samples = self.max_waiting = 0
        self._stop = threading.Event()

    def _counters(self) -> tuple[int, int]:
        row = self.conn.execute(
            "SELECT deadlocks, conflicts FROM pg_stat_database WHERE datname = current_database()"
        ).fetchone()
        return int(row[0]), int(row[1])

    def _log_waits(self) -> int:
        log = self.cluster.directory / "postgres.log"
        return len(re.findall(r"still waiting for", log.read_text(errors="replace")))

    @contextlib.contextmanager
    def watching(self) -> Iterator[dict[str, int]]:
        import psycopg

        found: dict[str, int] = {}
        deadlocks, conflicts = self._counters()
        log_waits = self._log_waits()
        sampler = psycopg.connect(self.dsn, autocommit=True)
        self._stop.clear()
        self.samples = self.waiting_samples = self.max_waiting = 0

        def sample() -> None:
            while not self._stop.wait(0.02):
                waiting = sampler.execute("SELECT count(*) FROM pg_locks WHERE NOT granted")
                n = int(waiting.fetchone()[0])
                self.samples += 1
                self.waiting_samples += n > 0
                self.max_waiting = max(self.max_waiting, n)

        thread = threading.Thread(target=sample, daemon=True)
        thread.start()
        try:
            yield found
        finally:
            self._stop.set()
            thread.join()
            sampler.close()
            time.sleep(0.2)  # the server's log and statistics catch up
            d, c = self._counters()
            found.update(
                deadlocks=d - deadlocks,
                conflicts=c - conflicts,
                lock_waits_logged=self._log_waits() - log_waits,
                samples=self.samples,
                samples_waiting=self.waiting_samples,
                max_waiting=self.max_waiting,
            )


def postmaster_pid(cluster: PostgresCluster) -> int:
    return int((cluster.directory / "data" / "postmaster.pid").read_text().split()[0])


# -- one set-up: the service's processes, started and stopped per pass ----------------------
class Setup:
    """SQLite: one embedded HTTPS process. PostgreSQL: nginx and ``workers`` processes."""

    def __init__(
        self, backend: str, root: Path, pki: TestPKI, workers: int, dsn: str | None
    ) -> None:
        self.backend, self.workers = backend, workers
        self.root = root / f"{backend}-{workers}-{secrets.token_hex(3)}"
        self.service = prepare_central(
            self.root / "central",
            dsn=dsn,
            pki=pki,
            operator_port=free_port() if backend == "sqlite" else None,
        )
        self.front: NginxCentral | None = None

    def start(self, stage_cpu: bool) -> None:
        config = self.service.config_file
        text = re.sub(r"\nstage_cpu = \w+", "", config.read_text())
        config.write_text(
            text.replace("\nopenapi", f"\nstage_cpu = {str(stage_cpu).lower()}\nopenapi")
        )
        if self.backend == "sqlite":
            self.service.start()
        else:
            self.front = NginxCentral(
                self.service, self.root / f"front-{time.monotonic_ns()}", self.workers, True
            ).start()

    def stop(self) -> None:
        if self.front is not None:
            self.front.stop()
            self.front = None
        else:
            self.service.stop()

    @property
    def client_service(self) -> CentralService:
        return self.front.service if self.front else self.service

    @property
    def worker_pids(self) -> list[int]:
        if self.front:
            return [w.pid for w in self.front.workers]
        assert self.service.process is not None
        return [self.service.process.pid]

    @property
    def operator_urls(self) -> list[str]:
        return self.front.operator_urls if self.front else [self.service.operator_url]

    def scrape(self) -> tuple[dict[str, float], float]:
        """(stage -> CPU seconds, races) summed over the workers' /metrics."""
        stages = dict.fromkeys(STAGES, 0.0)
        races = 0.0
        for url in self.operator_urls:
            with requests.Session() as s:
                s.trust_env = False
                text = s.get(url + "/metrics", verify=str(self.service.ca_cert), timeout=30).text
            for stage, value in re.findall(
                r'^mynapoint_ingest_cpu_seconds_total\{stage="(\w+)"\} (\S+)$', text, re.M
            ):
                stages[stage] += float(value)
            races += sum(
                float(v) for v in re.findall(r"^mynapoint_store_races_total (\S+)$", text, re.M)
            )
        return stages, races


def ingest(svc: CentralService, items: list, batch: int, clients: int) -> tuple[float, dict]:
    """(enrollments per second, answers by status/reason) through ``svc``."""
    batches = [[it[0] for it in items[i : i + batch]] for i in range(0, len(items), batch)]
    counts: dict[str, int] = {}
    lock = threading.Lock()
    next_batch = iter(range(len(batches)))
    failures: list[BaseException] = []

    def client() -> None:
        try:
            with svc.session() as s:
                while True:
                    with lock:
                        i = next(next_batch, None)
                    if i is None:
                        return
                    r = s.post(
                        svc.base_url + wire.BATCH_PATH,
                        json=wire.batch_body(batches[i]),
                        timeout=300,
                    )
                    r.raise_for_status()
                    with lock:
                        for result in r.json()["results"]:
                            key = result.get("reason", result["status"])
                            counts[key] = counts.get(key, 0) + 1
        except BaseException as exc:  # noqa: BLE001 - reported below
            failures.append(exc)

    sessions = [svc.session() for _ in range(clients)]  # connect before the clock starts
    for s in sessions:
        s.get(svc.base_url + wire.HEALTH_PATH, timeout=30)
        s.close()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if failures:
        raise failures[0]
    return len(items) / (time.perf_counter() - start), counts


def heartbeats_cpu_per_1000(setup: Setup, n: int, clients: int) -> float:
    """CPU-seconds of the central process(es) per 1,000 heartbeats (each kiosk sends one a
    minute: at 90,000 kiosks, 1,500 a second), ``clients`` kiosks at once."""
    svc = setup.client_service
    kiosks = [f"K-HB-{k:04d}" for k in range(clients)]
    pids = setup.worker_pids
    body = {"queue_depth": 0, "printer": "ok", "reader": "ok", "kiosk_version": "1.0"}

    def beat(kiosk: str, count: int) -> None:
        with svc.session(kiosk) as s:
            for _ in range(count):
                s.post(svc.base_url + wire.HEARTBEAT_PATH, json=body, timeout=30).raise_for_status()

    for kiosk in kiosks:
        beat(kiosk, 2)  # connected, warm
    cpu0 = {p: tree_cpu(p, with_children=False) for p in pids}
    threads = [threading.Thread(target=beat, args=(k, n // clients)) for k in kiosks]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    central = sum(cpu_since(cpu0[p], tree_cpu(p, with_children=False)) for p in pids)
    return 1000 * central / (n // clients * clients)


def run_pass(
    setup: Setup,
    items: list,
    batch: int,
    args: argparse.Namespace,
    cluster: PostgresCluster | None,
    watch: LockWatch | None,
) -> dict[str, Any]:
    """One measured run of ``items`` through the running set-up."""
    svc = setup.client_service
    pids = setup.worker_pids
    ingest(svc, items[:20], min(batch, 20), 1)  # warm: connections, imports, prepared SQL
    stages0, races0 = setup.scrape()
    nginx0 = tree_cpu(setup.front.nginx.pid) if setup.front and setup.front.nginx else {}
    pg0 = tree_cpu(postmaster_pid(cluster)) if cluster else {}
    cpu0 = {p: tree_cpu(p, with_children=False) for p in pids}
    with watch.watching() if watch else contextlib.nullcontext({}) as locks:
        rate, counts = ingest(svc, items[20:], batch, args.clients)
    n = len(items) - 20
    per_1000 = 1000 / n
    central = sum(cpu_since(cpu0[p], tree_cpu(p, with_children=False)) for p in pids)
    stages1, races1 = setup.scrape()
    row = {
        "rate": rate,
        "counts": counts,
        "central": central * per_1000,
        "stages": {k: (stages1[k] - stages0[k]) * per_1000 for k in STAGES},
        "races": races1 - races0,
        "locks": dict(locks),
    }
    if setup.front and setup.front.nginx:
        row["nginx"] = cpu_since(nginx0, tree_cpu(setup.front.nginx.pid)) * per_1000
    if cluster:
        row["postgres"] = cpu_since(pg0, tree_cpu(postmaster_pid(cluster))) * per_1000
    return row


def run_setup(
    backend: str,
    workers: int,
    root: Path,
    pki: TestPKI,
    args: argparse.Namespace,
    cluster: PostgresCluster | None,
) -> list[dict[str, Any]]:
    dsn = cluster.new_database() if cluster else None
    setup = Setup(backend, root, pki, workers, dsn)
    watch = LockWatch(cluster, dsn) if cluster and dsn else None
    rows = []
    for batch in (int(b) for b in args.batches.split(",")):
        tag = f"{backend}{workers}b{batch}"
        plain = make_items(setup.service, args.items + 20, tag=tag + "p")
        staged = make_items(setup.service, args.items + 20, tag=tag + "s")
        checks, hpke = raw_cpu_per_1000(setup.service, plain[20:])
        row: dict[str, Any] = {
            "backend": backend,
            "workers": workers,
            "batch": batch,
            "raw_checks": checks,
            "raw_hpke": hpke,
        }
        for stage_cpu, items in ((False, plain), (True, staged)):
            setup.start(stage_cpu)
            try:
                row["staged" if stage_cpu else "plain"] = run_pass(
                    setup, items, batch, args, cluster, watch
                )
            finally:
                setup.stop()
        rows.append(row)
        print_row(row, file=sys.stderr)
    if args.heartbeats:
        setup.start(False)
        try:
            rows[-1]["heartbeat"] = heartbeats_cpu_per_1000(setup, args.heartbeats, args.clients)
        finally:
            setup.stop()
    return rows


def print_row(row: dict[str, Any], file: Any = sys.stdout) -> None:
    plain, raw = row["plain"], row["raw_checks"] + row["raw_hpke"]
    print(
        f"| {row['backend']} | {row['workers']} | {row['batch']} | {raw:.3f} |"
        f" {plain['central']:.3f} | **{plain['central'] / raw:.2f}x** | {plain['rate']:.0f} |"
        f" {plain.get('nginx', 0):.3f} | {plain.get('postgres', 0):.3f} | {plain['counts']} |",
        file=file,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=1000, help="items per batch size")
    parser.add_argument("--batches", default="100,1", help="batch sizes, comma separated")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--workers", default="1,2", help="PostgreSQL worker counts")
    parser.add_argument("--heartbeats", type=int, default=400, help="heartbeats per set-up")
    args = parser.parse_args()
    print(
        f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores,"
        f" Python {platform.python_version()}; {args.items} items per batch size,"
        f" {args.clients} concurrent clients; load average {os.getloadavg()[0]:.1f}"
    )
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-central-") as tmp:
        root = Path(tmp)
        pki = TestPKI.create(root / "jpki")
        for backend in args.backends.split(","):
            if backend == "sqlite":
                rows += run_setup("sqlite", 1, root, pki, args, None)
                continue
            if not PostgresCluster.available() or not NginxCentral.available():
                print(f"# {backend}: skipped (PostgreSQL or nginx not installed)")
                continue
            cluster = PostgresCluster(fsync=True).start()
            try:
                with contextlib.closing(
                    __import__("psycopg").connect(cluster.dsn(), autocommit=True)
                ) as conn:
                    conn.execute("ALTER SYSTEM SET log_lock_waits = on")
                    conn.execute("ALTER SYSTEM SET deadlock_timeout = '10ms'")
                    conn.execute("SELECT pg_reload_conf()")
                for workers in (int(w) for w in args.workers.split(",")):
                    rows += run_setup(backend, workers, root, pki, args, cluster)
            finally:
                cluster.stop()
    print(f"# load average after: {os.getloadavg()[0]:.1f}")
    print()
    print(
        "| backend | workers | batch | raw checks CPU-s/1000 | central CPU-s/1000 |"
        " central ÷ raw | ingest /s | nginx CPU-s/1000 | PostgreSQL CPU-s/1000 | answers |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        print_row(row)
    print()
    print("CPU-seconds per 1,000 enrollments by stage (second pass, stage_cpu = true):")
    print()
    print(
        "| backend | workers | batch | central total | HTTP+TLS+framework |"
        + "".join(f" {s} |" for s in STAGES)
        + " raw sig+chain | raw HPKE |"
    )
    print("|---" * (7 + len(STAGES)) + "|")
    for row in rows:
        staged = row["staged"]
        rest = staged["central"] - sum(staged["stages"].values())
        print(
            f"| {row['backend']} | {row['workers']} | {row['batch']} | {staged['central']:.3f} |"
            f" {rest:.3f} |"
            + "".join(f" {staged['stages'][s]:.3f} |" for s in STAGES)
            + f" {row['raw_checks']:.3f} | {row['raw_hpke']:.3f} |"
        )
    beats = [r for r in rows if "heartbeat" in r]
    if beats:
        print()
        print("| backend | workers | central CPU-s per 1,000 heartbeats |")
        print("|---|---|---|")
        for row in beats:
            print(f"| {row['backend']} | {row['workers']} | {row['heartbeat']:.3f} |")
    if any(row["backend"] != "sqlite" for row in rows):
        print()
        print("Waiting on PostgreSQL (first pass):")
        print()
        print(
            "| workers | batch | lock waits > 10 ms (log) | samples with a waiter / samples |"
            " max waiting | deadlocks | conflicts | races (id answered already) | retry answers |"
        )
        print("|---|---|---|---|---|---|---|---|---|")
        for row in rows:
            if row["backend"] == "sqlite":
                continue
            p = row["plain"]
            locks = p["locks"]
            print(
                f"| {row['workers']} | {row['batch']} | {locks['lock_waits_logged']} |"
                f" {locks['samples_waiting']} / {locks['samples']} | {locks['max_waiting']} |"
                f" {locks['deadlocks']} | {locks['conflicts']} | {p['races']:.0f} |"
                f" {p['counts'].get('retry', 0)} |"
            )


if __name__ == "__main__":
    main()
