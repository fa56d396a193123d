"""Benchmark of the card layer against the virtual card (delays off), in one run.

Prints, for one complete card phase (certificate, tries, PIN + signature), the APDUs
and bytes exchanged, and the driver's own overhead: the median time of each
operation through ``CardService`` (future submitted on the caller's thread, run on the
card worker, result back) divided by the median time of the very same APDUs sent
straight through pyscard, both ``smartcard.scard.SCardTransmit`` (the layer the driver
uses) and pyscard's high-level ``CardConnection.transmit``.

Needs root (it starts a private pcscd in its own mount namespace, like the tests)::

    .venv/bin/python bench/bench_card.py [--rounds 300]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sim.pcscd import PrivatePcscd  # noqa: E402
from sim.rig import EventLog  # noqa: E402

DIGEST = hashlib.sha256(b"canonical enrollment payload").digest()


def _median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def _time(fn: Callable[[], object], rounds: int) -> list[float]:
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return samples


def _presence_latency(daemon, vcard, service_class, rounds: int) -> None:
    """How long from the card going in (or out) to the service's event."""
    events = EventLog()
    service = service_class(daemon.reader_name, events)
    service.start()
    events.wait_for("card_placed")
    placed, removed = [], []
    try:
        for _ in range(rounds):
            for action, event, samples in (
                (vcard.remove, "card_removed", removed),
                (lambda: vcard.insert(wait=0), "card_placed", placed),
            ):
                mark = events.mark()
                start = time.perf_counter()
                action()
                events.wait_for(event, after=mark)
                samples.append(time.perf_counter() - start)
    finally:
        service.stop()
    print(
        f"\n## Presence latency (median of {rounds}; pcscd polls vpcd, the service polls "
        f"pcscd every {service.poll_interval} s)\n\n"
        f"card placed -> card_placed: {_median_ms(placed):.0f} ms (max {max(placed) * 1000:.0f})"
        f"; card removed -> card_removed: {_median_ms(removed):.0f} ms "
        f"(max {max(removed) * 1000:.0f})"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=300)
    args = parser.parse_args(argv)

    base = Path(tempfile.mkdtemp(prefix="bench-card-"))
    daemon = PrivatePcscd(base / "pcscd")
    os.environ["PCSCLITE_CSOCK_NAME"] = str(daemon.socket_path)
    # pyscard must see the variable before its first context, so import after it.
    from smartcard import scard
    from smartcard.System import readers

    from drivers.reader import CardService
    from sim.card import VirtualCard, make_card, step_of
    from sim.pki import TestPKI

    daemon.start()
    pki = TestPKI.create(base / "pki")
    vcard = VirtualCard(make_card(pki.directory, base / "card", pki=pki), port=daemon.port)
    vcard.insert()
    daemon.wait_card(True)
    try:
        operations = {
            "read_certificate": lambda s: s.read_certificate(),
            "pin_tries_left": lambda s: s.pin_tries_left(),
            "sign (SELECT AP, 0018, VERIFY, 0017, SIGN, re-SELECT)": lambda s: s.sign(
                bytearray(b"1234"), DIGEST
            ),
        }

        def start_service() -> CardService:
            events = EventLog()
            service = CardService(daemon.reader_name, events)
            service.start()
            events.wait_for("card_placed")
            return service

        # One complete card phase: which APDUs, how many bytes.
        service = start_service()
        apdus: dict[str, list[bytes]] = {}
        print("## One complete card phase\n")
        print("| operation | APDUs | bytes sent | bytes received | steps |")
        print("|---|---:|---:|---:|---|")
        totals = [0, 0, 0]
        for name, op in operations.items():
            before = len(vcard.apdu_log)
            op(service).result(10)
            log = vcard.apdu_log[before:]
            apdus[name] = [cmd for cmd, _ in log]
            sent = sum(len(c) for c, _ in log)
            got = sum(len(r) for _, r in log)
            steps = ", ".join(sorted({step_of(c) for c, _ in log}))
            print(f"| {name} | {len(log)} | {sent} | {got} | {steps} |")
            totals = [totals[0] + len(log), totals[1] + sent, totals[2] + got]
        print(f"| **total** | {totals[0]} | {totals[1]} | {totals[2]} | |")

        # Driver vs the same raw APDUs, interleaved round by round (the machine is shared,
        # so drift hits all three alike). The driver's connection is shared for this only.
        service.stop()
        CardService.share_mode = scard.SCARD_SHARE_SHARED
        service = start_service()
        hr, ctx = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
        hr, hcard, proto = scard.SCardConnect(
            ctx, daemon.reader_name, scard.SCARD_SHARE_SHARED, scard.SCARD_PROTOCOL_T1
        )
        reader = next(r for r in readers() if str(r) == daemon.reader_name)
        connection = reader.createConnection()
        connection.connect()
        commands = {name: [list(c) for c in apdus[name]] for name in operations}
        for name in operations:
            answers = [scard.SCardTransmit(hcard, proto, c)[1][-2:] for c in commands[name]]
            assert all(a == [0x90, 0] or a[0] == 0x63 for a in answers), (name, answers)

        def replay_low(name: str) -> None:
            for c in commands[name]:
                scard.SCardTransmit(hcard, proto, c)

        def replay_high(name: str) -> None:
            for c in commands[name]:
                connection.transmit(c)

        class RawLink:
            """drivers.card functions straight on a raw handle: no worker, no watchdog."""

            def transmit(self, apdu: bytes | bytearray) -> bytes:
                return bytes(scard.SCardTransmit(hcard, proto, list(apdu))[1])

        from drivers import card

        inline = {
            name: fn
            for name, fn in zip(
                operations,
                (
                    lambda: card.read_auth_certificate(RawLink()),
                    lambda: card.pin_tries_left(RawLink()),
                    lambda: card.sign_with_pin(RawLink(), bytearray(b"1234"), DIGEST),
                ),
                strict=True,
            )
        }
        ways = {
            "driver": lambda name: operations[name](service).result(10),
            "inline": lambda name: inline[name](),
            "low": replay_low,
            "high": replay_high,
        }
        samples = {(way, name): [] for way in ways for name in operations}
        order = list(ways)
        for i in range(args.rounds):
            for name in operations:
                for way in order[i % len(order) :] + order[: i % len(order)]:
                    start = time.perf_counter()
                    ways[way](name)
                    samples[way, name].append(time.perf_counter() - start)
        handoff = _time(lambda: service.submit(lambda link: None).result(10), args.rounds)
        connection.disconnect()
        connection.release()
        scard.SCardDisconnect(hcard, scard.SCARD_LEAVE_CARD)
        scard.SCardReleaseContext(ctx)
        service.stop()
        driver = {n: samples["driver", n] for n in operations}
        low = {n: samples["low", n] for n in operations}
        high = {n: samples["high", n] for n in operations}

        print(f"\n## Driver overhead (median of {args.rounds} interleaved runs each, delays off)\n")
        print(
            "| operation | driver ms | raw scard ms | ratio | pyscard CardConnection ms | ratio "
            "| driver functions inline ms | ratio |"
        )
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
        for name in operations:
            d, lo, hi = (_median_ms(x[name]) for x in (driver, low, high))
            il = _median_ms(samples["inline", name])
            print(
                f"| {name} | {d:.3f} | {lo:.3f} | {d / lo:.2f} | {hi:.3f} | {d / hi:.2f} "
                f"| {il:.3f} | {il / lo:.2f} |"
            )
        print(
            f"\nEmpty job through the worker (caller -> card worker -> future): "
            f"{_median_ms(handoff):.3f} ms median"
        )
        _presence_latency(daemon, vcard, CardService, rounds=max(5, args.rounds // 50))
    finally:
        vcard.remove()
        daemon.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
