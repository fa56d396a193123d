"""A realistic receipt to print: the tests' (``tests/fixtures/printer.py``) and the
benchmarks' (``bench/bench_printer.py``) one sample, an accepted Japanese enrollment."""

from __future__ import annotations

from datetime import UTC, datetime

from kiosk.receipt import ReceiptData

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
