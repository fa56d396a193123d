"""Bytes and time per receipt, Kanji mode against raster mode, and what those bytes
cost on the wire at 9600 and 115200 baud.

    .venv/bin/python bench/bench_printer.py [--repeat 20]

Kanji mode is the baseline; every raster figure is also given as a ratio to it,
measured in the same process on the same receipts. "pty round trip" is a real
print_receipt() through a pseudo-terminal to the virtual printer (which parses the
stream and renders a PNG before answering), so it is an upper bound of our own cost.
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

from drivers.printer import ReceiptPrinter, transmission_seconds  # noqa: E402
from kiosk.receipt import layout, render_escpos, render_image  # noqa: E402
from sim.printer import VirtualPrinter  # noqa: E402
from sim.printer.samples import SAMPLE_RECEIPT  # noqa: E402

BAUD_RATES = (9600, 115200)

RECEIPTS = {
    "ja accepted": SAMPLE_RECEIPT,
    "ja pending": replace(SAMPLE_RECEIPT, state="pending", mykey_id=None),
    "en pending": replace(SAMPLE_RECEIPT, lang="en", state="pending", mykey_id=None),
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    print(f"python {platform.python_version()}, {platform.machine()}, repeat={args.repeat}\n")
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
