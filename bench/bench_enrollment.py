"""A whole enrollment through the flow and the controller on the real parts, and where its
time goes, against the card phase alone measured in the same process.

    .venv/bin/python bench/bench_enrollment.py [--rounds 15]

Needs root (a private pcscd in its own mount namespace, as in the tests). Each round is
one new person (a fresh virtual card, a fresh payment account) from the welcome screen
to "take your card": certificate read and checked, PIN and signature, signature
verified, sealed and committed (synchronous=FULL), sent by the sync worker over mutual
TLS to the reference central service and answered, receipt printed on the virtual
printer. The person's own time is zero (events are sent at once).

Baseline: the same card's three operations (read certificate, tries left, PIN +
signature) straight through ``CardService``, no flow, no controller. The ratio
(card noticed to receipt printed) / card phase says how much the kiosk's own work
(checks, queue, network, printer) adds around the card; the virtual card answers at
once, so against a real card (signatures take 0.3-2.5 s) the ratio is far smaller.
Noticing the card (insert to ``CardPlaced``) is pcscd's and the vpcd driver's polling.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import secrets
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sim.pcscd import PrivatePcscd  # noqa: E402
from sim.rig import EventLog  # noqa: E402

PHASES = (
    ("card noticed by the reader (insert to CardPlaced)", "insert", "CardPlaced"),
    ("card: certificate + checks", "ReadCertificate", "CertificateRead"),
    ("card: tries left", "ReadTriesLeft", "TriesLeftRead"),
    ("card: PIN + signature", "SignDigest", "Signed"),
    ("verify signature", "VerifySignature", "SignatureVerified"),
    ("seal + durable enqueue", "Enqueue", "Enqueued"),
    ("sync worker + central answer", "Submit", "Submitted"),
    ("receipt printed", "PrintReceipt", "Printed"),
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args(argv)
    base = Path(tempfile.mkdtemp(prefix="bench-enrollment-"))
    daemon = PrivatePcscd(base / "pcscd")
    os.environ["PCSCLITE_CSOCK_NAME"] = str(daemon.socket_path)

    from drivers import certs
    from drivers.printer import ReceiptPrinter
    from drivers.reader import CardService
    from kiosk import flow
    from kiosk.catalog import CAMPAIGNS_FILE, SERVICES_FILE, Catalog
    from kiosk.central_link import CentralLink
    from kiosk.controller import Controller
    from kiosk.receipt_facts import ReceiptSettings
    from offline_queue.store import Outbox
    from sim.card import VirtualCard, make_card
    from sim.central import start_central
    from sim.enrollments import central_client, quick_worker
    from sim.pki import TestPKI
    from sim.printer import VirtualPrinter
    from sim.rig import KioskUnderTest

    daemon.start()
    pki = TestPKI.create(base / "pki")
    central = start_central(
        base, pki=pki, services_file=SERVICES_FILE, campaigns_file=CAMPAIGNS_FILE
    )
    printer_sim = VirtualPrinter(base / "receipts", columns=42)
    printer_sim.start()
    cards = [make_card(pki.directory, base / f"card{n}", pki=pki) for n in range(args.rounds + 1)]
    card_phase = [_card_phase_alone(daemon, cards[-1], CardService) for _ in range(args.rounds)]
    db = base / "queue.sqlite3"
    guard = secrets.token_bytes(32)
    catalog = Catalog.load()
    controller = Controller(
        catalog=catalog,
        make_card=lambda on_event: CardService(daemon.reader_name, on_event),
        printer=ReceiptPrinter(printer_sim.port, mode="kanji", columns=42),
        open_outbox=lambda: Outbox(db, [central.sealing_key], central.kiosk_id, guard),
        trusted_cas=certs.load_ca_bundle(pki.trusted_ca_pem()),
        receipt_settings=ReceiptSettings("ベンチ店", "https://central.example/s/{receipt_no}"),
        central=CentralLink(
            central.base_url, central.ca_cert, central.client_cert, central.client_key
        ),
        submit_wait_seconds=5.0,
    )
    worker = quick_worker(db, central_client(central), idle_poll_s=1.0)
    sync = threading.Thread(target=worker.run_forever, daemon=True)
    sync.start()
    kiosk = KioskUnderTest(controller, central.kiosk_id, catalog)
    timings: dict[str, list[float]] = {name: [] for name, _, _ in PHASES}
    totals, own = [], []
    marks = _instrument(kiosk)
    try:
        for n in range(args.rounds):
            card = VirtualCard(cards[n], port=daemon.port)
            account = central.new_account("waon")
            marks.clear()
            start = marks["insert"] = time.perf_counter()
            card.insert()
            kiosk.enroll(account)
            kiosk.send(flow.Done())
            kiosk.wait_for(flow.TAKE_CARD)
            totals.append(time.perf_counter() - start)
            own.append(marks["Printed"] - marks["CardPlaced"])
            for name, asked, answered in PHASES:
                if asked in marks and answered in marks:
                    timings[name].append(marks[answered] - marks[asked])
            card.remove()
            kiosk.wait_for(flow.WELCOME)
    finally:
        controller.stop()
        worker.stop()
        sync.join(10)
        worker.close()
        printer_sim.stop()
        central.stop()
        daemon.stop()

    def ms(samples: list[float]) -> str:
        return f"{statistics.median(samples) * 1000:8.1f}" if samples else "       -"

    print(f"{args.rounds} enrollments, one new card and account each\n")
    print("| step (effect to answer) | p50 ms |")
    print("|---|---:|")
    for name, _, _ in PHASES:
        print(f"| {name} | {ms(timings[name])} |")
    print(f"| **card noticed to receipt printed** | {ms(own)} |")
    print(f"| card inserted to take-card screen | {ms(totals)} |")
    print(f"| baseline: card phase alone (CardService) | {ms(card_phase)} |")
    ratio = statistics.median(own) / statistics.median(card_phase)
    print(f"\nratio (card noticed to receipt printed) / card phase: {ratio:.1f}")
    p95 = statistics.quantiles(own, n=20)[-1] * 1000 if len(own) >= 2 else 0.0
    print(f"card noticed to receipt printed, p95: {p95:.1f} ms")

    return 0


def _instrument(kiosk: Any) -> dict[str, float]:
    """Time of the last effect sent and answer received, by class name."""
    marks: dict[str, float] = {}
    execute = kiosk.controller.execute
    post = kiosk.answers.put

    def timed_execute(effect: Any) -> Any:
        marks[type(effect).__name__] = time.perf_counter()
        return execute(effect)

    def timed_put(event: Any) -> None:
        marks[type(event).__name__] = time.perf_counter()
        post(event)

    kiosk.controller.execute = timed_execute
    kiosk.answers.put = timed_put
    return marks


def _card_phase_alone(daemon: Any, card_dir: Path, card_service: Any) -> float:
    """Read certificate, tries left, PIN + signature straight through a CardService."""
    from sim.card import VirtualCard

    card = VirtualCard(card_dir, port=daemon.port)
    card.insert()
    events = EventLog()
    service = card_service(daemon.reader_name, events)
    service.start()
    try:
        events.wait_for("card_placed")
        start = time.perf_counter()
        service.read_certificate().result(10)
        service.pin_tries_left().result(10)
        service.sign(bytearray(b"1234"), hashlib.sha256(b"x").digest()).result(10)
        return time.perf_counter() - start
    finally:
        service.stop()
        card.remove()
        daemon.wait_card(False)


if __name__ == "__main__":
    raise SystemExit(main())
