"""Benchmark of the card layer against the virtual card (delays off), in one run.

Prints, for one complete card phase (certificate, tries, PIN + signature), the APDUs
and bytes exchanged; the driver's own overhead per operation: the median time of the
operation on the card worker (``drivers.card`` + the PC/SC link), and through
``CardService``'s future (caller's thread -> worker -> result), each divided by the
median time of the very same APDUs sent straight through ``smartcard.scard.SCardTransmit``
(the layer the driver uses); and presence latency, the service's card events against a
raw ``SCardGetStatusChange`` waiter on the same pcscd, timed from the same instant.

Needs root (it starts a private pcscd in its own mount namespace, like the tests)::

    .venv/bin/python bench/bench_card.py [--rounds 300] [--presence-rounds 10]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import subprocess
import sys
import tempfile
import threading
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
    """Card in (or out) at vpcd -> the service's event, next to a raw pcscd waiter.

    The waiter is a thread blocked in ``SCardGetStatusChange`` on its own context (what
    pcscd itself can tell anybody), started before the card moves; both are timed from
    the same instant, so the difference is what the service adds.
    """
    from smartcard import scard

    events = EventLog()
    service = service_class(daemon.reader_name, events)
    service.start()
    events.wait_for("card_placed")
    rows: dict[str, tuple[list[float], list[float]]] = {
        "card placed": ([], []),
        "card removed": ([], []),
    }
    hr, ctx = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    try:
        for _ in range(rounds):
            for what, action, event, present in (
                ("card removed", vcard.remove, "card_removed", False),
                ("card placed", lambda: vcard.insert(wait=0), "card_placed", True),
            ):
                _hr, states = scard.SCardGetStatusChange(
                    ctx, 0, [(daemon.reader_name, scard.SCARD_STATE_UNAWARE)]
                )
                current = states[0][1] & ~scard.SCARD_STATE_CHANGED
                seen: list[float] = []

                def wait_raw(
                    current: int = current, present: bool = present, seen: list = seen
                ) -> None:
                    state = current
                    while True:
                        _hr, got = scard.SCardGetStatusChange(
                            ctx, 10_000, [(daemon.reader_name, state)]
                        )
                        state = got[0][1] & ~scard.SCARD_STATE_CHANGED
                        if bool(state & scard.SCARD_STATE_PRESENT) == present:
                            seen.append(time.perf_counter())
                            return

                waiter = threading.Thread(target=wait_raw)
                waiter.start()
                mark = events.mark()
                start = time.perf_counter()
                action()
                events.wait_for(event, after=mark)
                kiosk = time.perf_counter() - start
                waiter.join(15)
                rows[what][0].append(seen[0] - start)
                rows[what][1].append(kiosk)
    finally:
        scard.SCardReleaseContext(ctx)
        service.stop()
    print(
        f"\n## Presence latency (median of {rounds}; vpcd -> pcscd -> SCardGetStatusChange)\n\n"
        "| change | raw pcscd waiter ms | kiosk event ms | kiosk - raw ms | ratio |\n"
        "|---|---:|---:|---:|---:|"
    )
    for what, (raw, kiosk) in rows.items():
        r, k = _median_ms(raw), _median_ms(kiosk)
        print(f"| {what} | {r:.1f} | {k:.1f} | {k - r:+.1f} | {k / r:.3f} |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--presence-rounds", type=int, default=10)
    args = parser.parse_args(argv)

    base = Path(tempfile.mkdtemp(prefix="bench-card-"))
    daemon = PrivatePcscd(base / "pcscd")
    os.environ["PCSCLITE_CSOCK_NAME"] = str(daemon.socket_path)
    # pyscard must see the variable before its first context, so import after it.
    from smartcard import scard
    from smartcard.System import readers

    from drivers import card
    from drivers.reader import CardService
    from sim.card import VirtualCard, make_card, step_of
    from sim.pki import TestPKI

    daemon.start()
    pki = TestPKI.create(base / "pki")
    vcard = VirtualCard(make_card(pki.directory, base / "card", pki=pki), port=daemon.port)
    vcard.insert()
    daemon.wait_card(True)
    names = ("read_certificate", "pin_tries_left", "sign")
    functions = {
        "read_certificate": card.read_auth_certificate,
        "pin_tries_left": card.pin_tries_left,
        "sign": lambda link: card.sign_with_pin(link, bytearray(b"1234"), DIGEST),
    }
    try:

        def start_service() -> CardService:
            events = EventLog()
            service = CardService(daemon.reader_name, events)
            service.start()
            events.wait_for("card_placed")
            return service

        def phase(service: CardService) -> dict[str, list[tuple[bytes, bytes]]]:
            """One card phase as the kiosk runs it; the APDUs of each operation."""
            seen = {}
            for name, future in (
                ("read_certificate", service.read_certificate),
                ("pin_tries_left", service.pin_tries_left),
                ("sign", lambda: service.sign(bytearray(b"1234"), DIGEST)),
            ):
                before = len(vcard.apdu_log)
                future().result(10)
                seen[name] = vcard.apdu_log[before:]
            return seen

        # One complete card phase: which APDUs, how many bytes; on a fresh connection,
        # then again on the same connection (the AP is still selected).
        service = start_service()
        for title, seen in (("first on a connection", phase(service)), ("next", phase(service))):
            print(f"## One complete card phase ({title})\n")
            print("| operation | APDUs | bytes sent | bytes received | steps |")
            print("|---|---:|---:|---:|---|")
            totals = [0, 0, 0]
            for name, log in seen.items():
                sent = sum(len(c) for c, _ in log)
                got = sum(len(r) for _, r in log)
                steps = " ".join(step_of(c) for c, _ in log)
                print(f"| {name} | {len(log)} | {sent} | {got} | {steps} |")
                totals = [totals[0] + len(log), totals[1] + sent, totals[2] + got]
            print(f"| **total** | {totals[0]} | {totals[1]} | {totals[2]} | |\n")
        commands = {name: [list(c) for c, _ in seen[name]] for name in names}

        # Driver vs the same raw APDUs. A round runs one whole phase each way, in a
        # rotating order; every phase ends with the AP selected and no EF, so each way
        # finds the card as its own previous phase left it. The driver's connection is
        # shared for this only. The card answers from its own process here, as a real
        # card is outside the kiosk's: in-process, its Python competes for the GIL and
        # the CPU caches with the code being measured.
        service.stop()
        vcard.remove()
        daemon.wait_card(False)
        card_process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "sim.card",
                "run",
                "--card",
                str(vcard.card_dir),
                "--port",
                str(daemon.port),
                "--delay-sign",
                "0",
            ],
            cwd=Path(__file__).resolve().parents[1],
            stdin=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        daemon.wait_card(True)
        CardService.share_mode = scard.SCARD_SHARE_SHARED
        service = start_service()
        hr, ctx = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
        hr, hcard, proto = scard.SCardConnect(
            ctx, daemon.reader_name, scard.SCARD_SHARE_SHARED, scard.SCARD_PROTOCOL_T1
        )
        reader = next(r for r in readers() if str(r) == daemon.reader_name)
        connection = reader.createConnection()
        connection.connect()

        class RawLink:
            """drivers.card functions straight on a raw handle: no worker, no watchdog."""

            session = card.CardSession()

            def transmit(self, apdu: bytes | bytearray) -> bytes:
                return bytes(scard.SCardTransmit(hcard, proto, list(apdu))[1])

        raw_link = RawLink()
        card.select_jpki(raw_link)
        in_worker: dict[str, list[float]] = {name: [] for name in names}
        raw_on_worker: dict[str, list[float]] = {name: [] for name in names}

        def on_worker(name: str) -> object:
            def job(link: object) -> object:
                start = time.perf_counter()
                try:
                    return functions[name](link)
                finally:
                    in_worker[name].append(time.perf_counter() - start)

            return service.submit(job).result(10)

        def raw_replay_on_worker(name: str) -> None:
            """The same raw replay, on the card worker thread: same thread, same wake-ups."""

            def job(link: object) -> None:
                start = time.perf_counter()
                replay_low(name)
                raw_on_worker[name].append(time.perf_counter() - start)

            service.submit(job).result(10)

        def replay_low(name: str) -> None:
            for c in commands[name]:
                scard.SCardTransmit(hcard, proto, c)

        def replay_high(name: str) -> None:
            for c in commands[name]:
                connection.transmit(c)

        ways = {
            "service": on_worker,
            "raw_worker": raw_replay_on_worker,
            "inline": lambda name: functions[name](raw_link),
            "low": replay_low,
            "high": replay_high,
        }
        samples: dict[tuple[str, str], list[float]] = {(w, n): [] for w in ways for n in names}
        order = list(ways)
        for i in range(args.rounds):
            for way in order[i % len(order) :] + order[: i % len(order)]:
                for name in names:
                    start = time.perf_counter()
                    ways[way](name)
                    samples[way, name].append(time.perf_counter() - start)
        handoff = _time(lambda: service.submit(lambda link: None).result(10), args.rounds)
        connection.disconnect()
        connection.release()
        scard.SCardDisconnect(hcard, scard.SCARD_LEAVE_CARD)
        scard.SCardReleaseContext(ctx)
        service.stop()
        card_process.terminate()
        card_process.wait(10)
        daemon.wait_card(False)
        vcard.insert()
        daemon.wait_card(True)

        def paired(way: str, name: str) -> float:
            """Median over rounds of (this way ÷ raw) within the same round: drift-proof."""
            mine = in_worker[name] if way == "worker" else samples[way, name]
            return statistics.median(a / b for a, b in zip(mine, samples["low", name], strict=True))

        print(f"## Driver overhead (median of {args.rounds} interleaved phases, delays off)\n")
        print(
            "Ratios are medians of the per-round ratios to raw SCardTransmit (each round runs"
            " every way once, so a load burst on the shared machine hits a pair together)."
            " 'driver on the worker' is drivers.card + the PC/SC link timed inside a job,"
            " against the raw replay timed inside a job on the same worker thread; the"
            " others are against the raw replay on the caller's thread.\n"
        )
        print(
            "| operation | APDUs | raw SCardTransmit ms | raw on the worker ms "
            "| driver on the worker ms | ratio "
            "| via the service's future ms | ratio | drivers.card inline ms | ratio "
            "| pyscard CardConnection ms | ratio |"
        )
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for name in names:
            lo = _median_ms(samples["low", name])
            rw = _median_ms(raw_on_worker[name])
            wk = _median_ms(in_worker[name])
            sv = _median_ms(samples["service", name])
            il = _median_ms(samples["inline", name])
            hi = _median_ms(samples["high", name])
            print(
                f"| {name} | {len(commands[name])} | {lo:.3f} | {rw:.3f} | {wk:.3f} "
                f"| {paired('worker', name):.3f} | {sv:.3f} | {paired('service', name):.3f} "
                f"| {il:.3f} | {paired('inline', name):.3f} "
                f"| {hi:.3f} | {paired('high', name):.3f} |"
            )
        print(
            f"\nEmpty job through the worker (caller -> card worker -> future): "
            f"{_median_ms(handoff):.3f} ms median"
        )
        _presence_latency(daemon, vcard, CardService, rounds=args.presence_rounds)
    finally:
        vcard.remove()
        daemon.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
