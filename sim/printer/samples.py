"""Receipts to print, and what a printer must have printed of them: for the tests and
``bench/bench_printer.py``. Pure (no pty, no serial port).

``make_receipt_data(**overrides)`` is the one sample, an accepted Japanese enrollment.
``parsed(printed)`` is a :class:`sim.printer.PrintedReceipt` as comparable tuples;
``expected_kanji(receipt, columns)`` / ``expected_raster(receipt, columns)`` are what
a printer must have printed of a layout in each mode, in the same shape.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from drivers import escpos
from kiosk.receipt import Cut, Line, QRCode, ReceiptData, print_items, raster_segments
from sim.printer.parser import PrintedCut, PrintedImage, PrintedQR, PrintedText

SAMPLE_RECEIPT = ReceiptData(
    receipt_no="R-20261126-0042",
    issued_at=datetime(2026, 11, 26, 0, 27, tzinfo=UTC),  # 09:27 in Tokyo
    kiosk_id="KIOSK-TOKYO-001",
    store_name="ローソン 新宿西口店",
    campaign_rule={"rate_percent": 25, "cap_points": 5000},
    service_name="PayPay",
    service_user_id="09012345678",
    state="accepted",
    mykey_id="AB12CD34",
    status_url="https://mynapoint.example.jp/status/R-20261126-0042",
    lang="ja",
)


def make_receipt_data(**overrides: Any) -> ReceiptData:
    """A realistic accepted Japanese receipt; override any field."""
    return replace(SAMPLE_RECEIPT, **overrides)


def expected_kanji(receipt, columns):
    """The layout as a Kanji printer must print it (JIS look-alikes for cp932 input)."""
    out = []
    for item in print_items(receipt, columns):
        if isinstance(item, Line):
            style = item.style
            text = escpos.to_sjis_repertoire(item.text)
            out.append(
                ("text", text, style.bold, style.double_width, style.double_height, item.align)
            )
        elif isinstance(item, QRCode):
            out.append(("qr", item.payload))
        else:
            out.append(("cut",))
    return out


def parsed(printed):
    out = []
    for item in printed.items:
        if isinstance(item, PrintedText):
            out.append(
                ("text", item.text, item.bold, item.double_width, item.double_height, item.align)
            )
        elif isinstance(item, PrintedQR):
            out.append(("qr", item.payload))
        elif isinstance(item, PrintedImage):
            out.append(("image", dots(item.image)))
        elif isinstance(item, PrintedCut):
            out.append(("cut",))
    return out


def dots(image):
    """The printed dots of an image, as a comparable (width, bytes) pair."""
    return image.width, escpos.to_print_bitmap(image).tobytes()


def expected_raster(receipt, columns):
    out = []
    for segment in raster_segments(receipt, columns):
        if isinstance(segment, QRCode):
            out.append(("qr", segment.payload))
        elif isinstance(segment, Cut):
            out.append(("cut",))
        else:
            out.append(("image", dots(segment)))
    return out
