"""Central ingest per second against the raw rate of the signature and chain checks alone.

    .venv/bin/python bench/bench_central.py [--items 1000] [--batches 100,1] [--clients 4]
                                            [--backends sqlite,postgresql]

The baseline, measured in this same process on the same items, is what no central
service can beat: verifying each card signature (PKCS#1 v1.5, RSA-2048) and its
certificate chain to a trusted JPKI CA (another RSA-2048 verify, dates, CRL lookup).
Ingest is the real ``mynapoint-central`` subprocess over HTTPS with mutual TLS, fed
batches by ``--clients`` concurrent kiosks; it adds HPKE opening, the programme rules,
the provider check and a durable commit per enrollment (SQLite WAL synchronous=FULL;
PostgreSQL with fsync on, two central processes on one database). The ratio
raw / ingest is the service's overhead. Both client and server share this machine.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cryptography import x509  # noqa: E402

from central.sealing import SealingKeyring  # noqa: E402
from central.trust import JpkiVerifier  # noqa: E402
from contract import wire  # noqa: E402
from sim.central import CentralService, card_sign, prepare_central  # noqa: E402
from sim.pki import TestPKI  # noqa: E402
from sim.postgres import PostgresCluster  # noqa: E402

CARDS = 50  # each card enrolls once per campaign; items / CARDS campaigns


def make_items(
    svc: CentralService, n: int, tag: str = ""
) -> list[tuple[dict[str, Any], bytes, bytes, bytes]]:
    """n signed, sealed items: (outer item, certificate DER, signature, digest)."""
    cards = [svc.pki.issue_card() for _ in range(min(CARDS, n))]
    accounts = [svc.new_account() for _ in cards]
    items = []
    for i in range(n):
        card, (code, user_id, codes) = cards[i % len(cards)], accounts[i % len(cards)]
        payload = wire.new_payload(
            kiosk_id=svc.kiosk_id,
            campaign_id=f"bench{tag}-{i // len(cards)}",
            service_code=code,
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
    return items


def raw_checks_per_second(svc: CentralService, items: list) -> tuple[float, float]:
    """(signature+chain checks per second, HPKE opens per second), single thread."""
    verifier = JpkiVerifier.from_paths([svc.directory / "jpki-trust.pem"], svc.crl_dir)
    start = time.perf_counter()
    for _, cert_der, signature, digest in items:
        cert = x509.load_der_x509_certificate(cert_der)
        JpkiVerifier.check_signature(cert, digest, signature)
        verifier.check_certificate(cert_der)
    raw = len(items) / (time.perf_counter() - start)
    keyring = SealingKeyring.load(svc.directory / "sealing")
    start = time.perf_counter()
    for item, *_ in items:
        keyring.open(item["key_id"], item["enrollment_id"], wire.b64d(item["sealed"]))
    return raw, len(items) / (time.perf_counter() - start)


def ingest_per_second(
    services: list[CentralService], items: list, batch: int, clients: int
) -> tuple[float, dict[str, int]]:
    """Enrollments per second through the services (clients spread over them)."""
    batches = [[it[0] for it in items[i : i + batch]] for i in range(0, len(items), batch)]
    counts: dict[str, int] = {}
    lock = threading.Lock()
    next_batch = iter(range(len(batches)))

    def client(n: int) -> None:
        svc = services[n % len(services)]
        with svc.session() as s:
            s.get(svc.base_url + wire.HEALTH_PATH, timeout=10)
            while True:
                with lock:
                    i = next(next_batch, None)
                if i is None:
                    return
                r = s.post(
                    svc.base_url + wire.BATCH_PATH, json=wire.batch_body(batches[i]), timeout=300
                )
                r.raise_for_status()
                with lock:
                    for result in r.json()["results"]:
                        key = result.get("reason", result["status"])
                        counts[key] = counts.get(key, 0) + 1

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return len(items) / (time.perf_counter() - start), counts


def run_backend(backend: str, root: Path, pki: TestPKI, args: argparse.Namespace) -> dict:
    if backend == "postgresql" and not PostgresCluster.available():
        return {"backend": backend, "skipped": "PostgreSQL binaries not found"}
    cluster = PostgresCluster(fsync=True) if backend == "postgresql" else None
    services: list[CentralService] = []
    try:
        dsn = cluster.start().new_database() if cluster else None
        first = prepare_central(root / f"{backend}-a", dsn=dsn, pki=pki)
        services.append(first)
        if backend == "postgresql":
            services.append(prepare_central(root / f"{backend}-b", dsn=dsn, shared_with=first))
        runs = [
            (int(b), make_items(first, args.items, tag=f"b{b}")) for b in args.batches.split(",")
        ]
        raw, hpke = raw_checks_per_second(first, runs[0][1])
        for svc in services:
            svc.start()
        ingest = {b: ingest_per_second(services, items, b, args.clients) for b, items in runs}
    finally:
        for svc in services:
            svc.stop()
        if cluster:
            cluster.stop()
    return {
        "backend": backend,
        "processes": len(services),
        "raw": raw,
        "hpke": hpke,
        "ingest": ingest,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=1000, help="items per batch size")
    parser.add_argument("--batches", default="100,1", help="batch sizes, comma separated")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args()
    print(
        f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores,"
        f" Python {platform.python_version()}; {args.items} items per batch size,"
        f" {args.clients} concurrent clients"
    )
    with tempfile.TemporaryDirectory(prefix="bench-central-") as tmp:
        root = Path(tmp)
        pki = TestPKI.create(root / "jpki")
        rows = [run_backend(b, root, pki, args) for b in args.backends.split(",")]
    print(
        "| backend | central processes | batch | raw sig+chain /s | HPKE open /s | ingest /s |"
        " overhead (raw/ingest) | answers |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for row in rows:
        if "skipped" in row:
            print(f"| {row['backend']} | skipped: {row['skipped']} | | | | | | |")
            continue
        for batch, (ingest, counts) in row["ingest"].items():
            print(
                f"| {row['backend']} | {row['processes']} | {batch} | {row['raw']:.0f} |"
                f" {row['hpke']:.0f} | {ingest:.0f} | {row['raw'] / ingest:.1f}x | {counts} |"
            )


if __name__ == "__main__":
    main()
