"""Bytes and time per receipt, Kanji mode against raster mode, and what those bytes
cost on the wire at 9600 and 115200 baud; then bytes and seconds per receipt per
transport (serial pty, USB-stand-in pty, loopback TCP) and per printer profile.

    .venv/bin/python bench/bench_printer.py [--repeat 20] [--only transports]

Kanji mode is the baseline; every raster figure is also given as a ratio to it,
measured in the same process on the same receipts. "pty round trip" is a real
print_receipt() through a pseudo-terminal to the virtual printer (which parses the
stream and renders a PNG before answering), so it is an upper bound of our own cost.

In the transport table the virtual printer parses but draws no PNG, so the seconds
are the driver, the transport and the parser. The baseline is the serial pty with
the TM-T88VI profile, in Kanji mode (after one warm-up run of each transport),
measured in the same process; each row gives its seconds as a ratio to it.
The "USB" row opens the same kind of pty through the USB printer class transport
(non-blocking os.read/os.write with select), as the tests do; it measures our code,
not a USB bus.
"""

from __future__ import annotations

import argparse
import functools
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from drivers.printer import ReceiptPrinter, open_transport, transmission_seconds  # noqa: E402
from drivers.printer_profiles import PROFILES  # noqa: E402
from kiosk.receipt import layout, render_escpos, render_image  # noqa: E402
from sim.printer import VirtualPrinter  # noqa: E402
from sim.printer.samples import SAMPLE_RECEIPT  # noqa: E402

BAUD_RATES = (9600, 115200)

RECEIPTS = {
    "ja accepted": SAMPLE_RECEIPT,
    "ja pending": replace(SAMPLE_RECEIPT, state="pending", mykey_id=None),
    "en pending": replace(SAMPLE_RECEIPT, lang="en", state="pending", mykey_id=None),
    # issue 10: the Japanese receipt with one line in the person's language (a drawn
    # band for th/ne/ko/vi, text for id); compare with "ja accepted" above
    **{
        f"ja accepted + {lang} line": replace(SAMPLE_RECEIPT, person_lang=lang)
        for lang in ("th", "ne", "ko", "vi", "id")
    },
}


def median_ms(action: Callable[[], object], repeat: int) -> float:
    action()  # warm caches (font, glyph masks) out of the figure
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def pty_round_trip_ms(receipt, mode: str, columns: int, repeat: int) -> float:
    with tempfile.TemporaryDirectory() as out:
        with VirtualPrinter(out, columns=columns) as vp:
            with ReceiptPrinter(vp.port, mode=mode, columns=columns) as printer:
                return median_ms(lambda: printer.print_receipt(receipt).result(), repeat)


TRANSPORT_LINKS = {"serial": "pty", "usb": "pty", "network": "tcp"}
STORE_PROFILES = ("epson-tm-t88vi", "epson-tm-t20", "epson-tm-t70", "citizen-ct-s", "star-escpos")


def transport_round_trip_s(receipt, kind: str, mode: str, columns: int, repeat: int) -> float:
    with tempfile.TemporaryDirectory() as out:
        link = TRANSPORT_LINKS[kind]
        with VirtualPrinter(out, columns=columns, link=link, save_pictures=False) as vp:
            transport = open_transport(kind, vp.port)
            with ReceiptPrinter(transport, mode=mode, columns=columns) as printer:
                return median_ms(lambda: printer.print_receipt(receipt).result(), repeat) / 1000


def transports_table(repeat: int) -> None:
    receipt = layout(SAMPLE_RECEIPT)
    print(
        "\n| profile | cols | mode | transport | bytes | x baseline | s per receipt "
        "| x baseline | wire s @115200 (serial) |"
    )
    print("|---" * 9 + "|")
    for kind in TRANSPORT_LINKS:  # first opens, imports and caches out of the figures
        transport_round_trip_s(receipt, kind, "kanji", 42, 2)
    base = base_bytes = None
    for profile_id in STORE_PROFILES:
        profile = PROFILES[profile_id]
        columns = profile.max_columns
        modes = ("kanji", "raster") if profile_id == STORE_PROFILES[0] else ("kanji",)
        for mode in modes:
            size = len(render_escpos(receipt, mode, columns))
            for kind in TRANSPORT_LINKS:
                seconds = transport_round_trip_s(receipt, kind, mode, columns, repeat)
                base, base_bytes = base or seconds, base_bytes or size
                wire = f"{transmission_seconds(size, 115200):.3f}" if kind == "serial" else "-"
                print(
                    f"| {profile_id} | {columns} | {mode} | {kind} | {size:,} "
                    f"| {size / base_bytes:.2f} | {seconds:.4f} | {seconds / base:.2f} | {wire} |"
                )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--only", choices=("modes", "transports"))
    args = parser.parse_args()
    print(f"python {platform.python_version()}, {platform.machine()}, repeat={args.repeat}\n")
    if args.only != "transports":
        modes_table(args)
    if args.only != "modes":
        transports_table(max(3, args.repeat // 2))


def modes_table(args: argparse.Namespace) -> None:
    header = (
        "| receipt | cols | mode | bytes | x kanji | render ms | x kanji "
        "| wire s @9600 | wire s @115200 | pty round trip ms |"
    )
    print(header)
    print("|---" * (header.count("|") - 1) + "|")
    for name, data in RECEIPTS.items():
        receipt = layout(data)
        for columns in (42, 48):
            base_bytes = base_ms = 0.0
            for mode in ("kanji", "raster"):
                size = len(render_escpos(receipt, mode, columns))
                ms = median_ms(
                    functools.partial(render_escpos, receipt, mode, columns), args.repeat
                )
                rt = pty_round_trip_ms(receipt, mode, columns, max(3, args.repeat // 4))
                if mode == "kanji":
                    base_bytes, base_ms = size, ms
                wire = [transmission_seconds(size, baud) for baud in BAUD_RATES]
                print(
                    f"| {name} | {columns} | {mode} | {size:,} | {size / base_bytes:.1f} "
                    f"| {ms:.2f} | {ms / base_ms:.1f} | {wire[0]:.2f} | {wire[1]:.3f} | {rt:.1f} |"
                )
    image_ms = median_ms(lambda: render_image(layout(SAMPLE_RECEIPT)), args.repeat)
    print(f"\nrender_image (on-screen receipt, 42 columns): {image_ms:.1f} ms")


if __name__ == "__main__":
    main()
