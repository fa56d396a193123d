"""Benchmark of the card layer against the virtual card (delays off), in one run.

Prints, for one complete card phase (certificate, tries, PIN + signature), the APDUs
and bytes exchanged; the driver's own overhead per operation: the median time of the
operation through ``drivers.card`` + the PC/SC link, against the median time of the
very same APDUs sent straight through ``smartcard.scard.SCardTransmit`` (the layer the
driver uses) on the same handle, in the same job on the card worker thread, rounds
interleaved; the same through ``CardService``'s future, and pyscard's high-level
``CardConnection`` for comparison; and presence latency, the service's card events
against a raw ``SCardGetStatusChange`` waiter on the same pcscd, timed from the same
instant. Only ratios of figures taken in the same run mean anything on a shared
machine; the load average is printed with them.

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


#: Ways to send one operation's APDUs, timed inside one job on the card worker thread.
IN_JOB = ("raw", "driver", "pyscard")
#: The same through the service's future, timed on the caller's thread.
VIA_FUTURE = ("raw_future", "driver_future")


def _overhead(daemon, start_service, functions, commands, status_words, rounds, warmup=20):
    """Median seconds per (way, operation) over ``rounds`` rounds, and the empty job's.

    Every round runs one whole card phase (the operations in order) each way, rotating
    which way goes first; every phase ends with the AP selected and no EF, so each way
    finds the card as its own previous phase left it. ``raw`` replays the very APDUs
    the driver sent, recorded from its phase, through ``SCardTransmit`` on the driver's
    own card handle, in the same job on the same thread: the only difference between
    ``raw`` and ``driver`` is drivers.card + the PC/SC link. ``pyscard`` is the same
    replay through pyscard's high-level ``CardConnection`` (its own shared handle).
    The first ``warmup`` rounds are not counted.
    """
    from smartcard import scard
    from smartcard.System import readers

    from drivers.reader import CardService

    CardService.share_mode = scard.SCARD_SHARE_SHARED  # pyscard's connection beside it
    service = start_service()
    reader = next(r for r in readers() if str(r) == daemon.reader_name)
    connection = reader.createConnection()
    connection.connect()
    names = list(commands)
    clock, transmit = time.perf_counter, scard.SCardTransmit

    def raw(link, name: str) -> None:
        hcard, protocol = link._hcard, link._protocol  # the driver's own handle
        for command in commands[name]:
            transmit(hcard, protocol, command)

    def high(link, name: str) -> None:
        for command in commands[name]:
            connection.transmit(command)

    ways = {"raw": raw, "driver": lambda link, name: functions[name](link), "pyscard": high}
    api = {
        "read_certificate": service.read_certificate,
        "pin_tries_left": service.pin_tries_left,
        "sign": lambda: service.sign(bytearray(b"1234"), DIGEST),
    }

    def check_replay(link) -> list[bytes]:
        """The raw replay's status words (the driver's: the PIN verified, a signature)."""
        got = []
        for name in names:
            for command in commands[name]:
                _hr, response = transmit(link._hcard, link._protocol, command)
                got.append(bytes(response[-2:]))
        return got

    for name in names:  # a fresh connection: the driver selects the AP, as it would
        api[name]().result(10)
    if service.submit(check_replay).result(10) != status_words:
        raise SystemExit("the raw replay does not get the driver's answers")
    samples: dict[tuple[str, str], list[float]] = {
        (way, name): [] for way in IN_JOB + VIA_FUTURE for name in names
    }
    try:
        for i in range(warmup + rounds):
            keep = i >= warmup

            def one_round(link, i: int = i, keep: bool = keep) -> None:
                k = i % len(IN_JOB)
                for way in IN_JOB[k:] + IN_JOB[:k]:
                    send = ways[way]
                    for name in names:
                        start = clock()
                        send(link, name)
                        elapsed = clock() - start
                        if keep:
                            samples[way, name].append(elapsed)

            service.submit(one_round).result(30)
            for way in VIA_FUTURE if i % 2 else VIA_FUTURE[::-1]:
                for name in names:
                    start = clock()
                    if way == "driver_future":
                        api[name]().result(10)
                    else:
                        service.submit(lambda link, name=name: raw(link, name)).result(10)
                    elapsed = clock() - start
                    if keep:
                        samples[way, name].append(elapsed)
        handoff = _time(lambda: service.submit(lambda link: None).result(10), rounds)
    finally:
        connection.disconnect()
        connection.release()
        service.stop()
    return samples, statistics.median(handoff)


def _ratios(samples, way: str, base: str, name: str) -> tuple[float, float, float, float]:
    """Ratio of the medians, and the quartiles of the per-round ratios (same round)."""
    mine, theirs = samples[way, name], samples[base, name]
    paired = statistics.quantiles(
        (a / b for a, b in zip(mine, theirs, strict=True)), n=4, method="inclusive"
    )
    return (statistics.median(mine) / statistics.median(theirs), *paired)


def _print_overhead(samples, handoff: float, apdus: dict[str, int], args) -> None:
    load = "/".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"## Driver overhead (median of {args.rounds} interleaved rounds, delays off; "
        f"load average {args.load} at the start, {load} at the end)\n\n"
        "'raw' is the same APDUs through smartcard.scard.SCardTransmit on the driver's own"
        " handle, in the same job on the card worker thread; 'driver' is drivers.card + the"
        " PC/SC link. The target is driver ÷ raw ≤ 1.05. Per-round ratios: driver ÷ raw"
        " within one round (a load burst hits both), quartiles.\n"
    )
    print(
        "| operation | APDUs | raw ms | driver ms | driver ÷ raw (medians) "
        "| per-round ratio p25 / p50 / p75 |"
    )
    print("|---|---:|---:|---:|---:|---|")
    for name, count in apdus.items():
        ratio, q1, q2, q3 = _ratios(samples, "driver", "raw", name)
        raw_ms, driver_ms = (_median_ms(samples[w, name]) for w in ("raw", "driver"))
        print(
            f"| {name} | {count} | {raw_ms:.3f} | {driver_ms:.3f} | **{ratio:.3f}** "
            f"| {q1:.3f} / {q2:.3f} / {q3:.3f} |"
        )
    print(
        "\nThe same through the service's future (caller -> card worker -> result, timed"
        " on the caller's thread; the raw replay submitted as a job the same way), and"
        " pyscard's high-level CardConnection (in the job, its own handle) against raw:\n"
    )
    print(
        "| operation | raw via future ms | driver via future ms | ratio "
        "| pyscard CardConnection ms | ÷ raw |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for name in apdus:
        future_ratio = _ratios(samples, "driver_future", "raw_future", name)[0]
        high_ratio = _ratios(samples, "pyscard", "raw", name)[0]
        rf, df, hi = (
            _median_ms(samples[w, name]) for w in ("raw_future", "driver_future", "pyscard")
        )
        print(
            f"| {name} | {rf:.3f} | {df:.3f} | {future_ratio:.3f} | {hi:.3f} | {high_ratio:.3f} |"
        )
    print(
        "\nEmpty job through the worker (caller -> card worker -> future): "
        f"{handoff * 1000:.3f} ms median"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--presence-rounds", type=int, default=10)
    args = parser.parse_args(argv)
    args.load = "/".join(f"{x:.1f}" for x in os.getloadavg())

    base = Path(tempfile.mkdtemp(prefix="bench-card-"))
    daemon = PrivatePcscd(base / "pcscd")
    os.environ["PCSCLITE_CSOCK_NAME"] = str(daemon.socket_path)
    # pyscard must see the variable before its first context, so import after it.
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
        status_words = [r[-2:] for name in names for _c, r in seen[name]]

        # Driver vs the same raw APDUs. The card answers from its own process here, as a
        # real card is outside the kiosk's: in-process, its Python would compete for the
        # GIL and the CPU caches with the code being measured.
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
        try:
            rows, handoff = _overhead(
                daemon, start_service, functions, commands, status_words, args.rounds
            )
        finally:
            card_process.terminate()
            card_process.wait(10)
        daemon.wait_card(False)
        vcard.insert()
        daemon.wait_card(True)
        _print_overhead(rows, handoff, {name: len(commands[name]) for name in names}, args)
        _presence_latency(daemon, vcard, CardService, rounds=args.presence_rounds)
    finally:
        vcard.remove()
        daemon.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
