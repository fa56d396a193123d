"""A receipt goes through the driver and a real pty to the virtual printer and back:
what the printer parsed is what the layout said, in Kanji and in raster mode. (Any
service name, as a property, is checked on the parser alone: tests/test_escpos_parser.py.)"""

import pytest

from drivers import escpos
from drivers.printer import ReceiptPrinter
from kiosk.receipt import layout
from sim.printer.samples import expected_kanji, expected_raster, make_receipt_data, parsed

pytest_plugins = ["tests.fixtures.printer"]


def print_on(virtual_printer, receipt, mode, columns=42):
    return print_with_result(virtual_printer, receipt, mode, columns)[0]


def print_with_result(virtual_printer, receipt, mode, columns=42):
    virtual_printer.columns = columns
    with ReceiptPrinter(virtual_printer.port, mode=mode, columns=columns, print_timeout=5) as p:
        result = p.print_receipt(receipt).result(timeout=10)
    [printed] = virtual_printer.wait_for_receipts(1)
    return printed, result


@pytest.mark.parametrize("columns", [42, 48])
def test_kanji_receipt_prints_exactly_what_the_layout_says(virtual_printer, columns):
    receipt = layout(make_receipt_data())
    printed = print_on(virtual_printer, receipt, "kanji", columns)
    assert parsed(printed) == expected_kanji(receipt, columns)
    assert printed.complete


def test_qr_code_on_paper_carries_the_status_url(virtual_printer):
    data = make_receipt_data()
    printed = print_on(virtual_printer, layout(data), "kanji")
    assert printed.qr_payloads == [data.status_url]


def test_english_receipt_prints_exactly_what_the_layout_says(virtual_printer):
    receipt = layout(make_receipt_data(lang="en", state="pending", mykey_id=None))
    assert parsed(print_on(virtual_printer, receipt, "kanji")) == expected_kanji(receipt, 42)


def test_raster_receipt_prints_the_layout_as_bitmaps_with_a_native_qr(virtual_printer):
    data = make_receipt_data()
    receipt = layout(data)
    printed = print_on(virtual_printer, receipt, "raster")
    assert parsed(printed) == expected_raster(receipt, 42)
    assert printed.qr_payloads == [data.status_url]
    assert printed.text == []  # no character codes at all: nothing for a ROM font to get wrong


@pytest.mark.parametrize(
    "service_name",
    ["ＰａｙＰａｙ（全角）", "ﾃﾞﾝｼﾏﾈｰ ｶﾞｲﾄﾞ", "楽天Edy", "d払い～お得"],
    ids=["full-width", "half-width-kana", "mixed", "windows-wave-dash"],
)
def test_japanese_names_print_as_text_in_kanji_mode(virtual_printer, service_name):
    receipt = layout(make_receipt_data(service_name=service_name))
    printed = print_on(virtual_printer, receipt, "kanji")
    assert escpos.to_sjis_repertoire(service_name) in printed.text


@pytest.mark.parametrize(
    "service_name", ["𠮷野家ペイ", "Pay😀", "①髙島屋カード"], ids=["jis2004", "emoji", "cp932-only"]
)
def test_names_outside_shift_jis_fall_back_to_a_raster_receipt(virtual_printer, service_name):
    receipt = layout(make_receipt_data(service_name=service_name))
    printed, result = print_with_result(virtual_printer, receipt, "kanji")
    assert printed.complete
    assert parsed(printed) == expected_raster(receipt, 42)
    assert result.mode == "raster"


def test_long_service_name_wraps_at_the_printers_column_limit(virtual_printer):
    name = "とても長い名前の決済サービス（ポイント還元プログラム対象）ＡＢＣカード"
    printed = print_on(virtual_printer, layout(make_receipt_data(service_name=name)), "kanji")
    assert all(escpos.text_cells(line) <= 42 for line in printed.text)
    assert any(name.startswith(line) and len(line) > 10 for line in printed.text)


def test_each_printed_receipt_is_saved_as_png(virtual_printer):
    printed = print_on(virtual_printer, layout(make_receipt_data()), "kanji")
    assert printed.png.read_bytes().startswith(b"\x89PNG")
    assert (
        printed.png.with_suffix(".txt").read_text("utf-8").startswith("マイナポイント申込 受付票")
    )


@pytest.mark.parametrize("mode", ["kanji", "raster"])
def test_the_full_service_id_never_reaches_the_printer(virtual_printer, mode):
    data = make_receipt_data(service_user_id="09012345678")
    receipt = layout(data)
    assert b"0901234" not in receipt.to_escpos(mode, 42)
    printed = print_on(virtual_printer, receipt, mode)
    assert "0901234" not in printed.png.with_suffix(".txt").read_text("utf-8")
