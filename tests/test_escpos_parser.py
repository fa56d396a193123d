"""The virtual printer's parser, bytes in and receipts out, without a pty or a driver.

The bytes are what the driver sends (``receipt.to_escpos(mode, columns)``, the status
queries); what comes out is what the printer tests read through the pty
(``tests/test_receipt_roundtrip.py``, ``tests/test_vprinter.py``).
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers import escpos
from drivers.escpos import StatusKind
from kiosk.receipt import layout
from sim.printer import EscPosParser
from sim.printer.samples import expected_kanji, expected_raster, make_receipt_data, parsed

#: What the driver sends around each job: DLE EOT 1..4 before, GS r 1 after.
STATUS_QUERIES = b"".join(escpos.realtime_status(kind) for kind in StatusKind)


def printer(columns: int = 42, **state: object) -> EscPosParser:
    """A parser whose paper, cover and offline state is ``state``."""
    parser = EscPosParser(columns)
    for name, value in state.items():
        setattr(parser, name, value)
    return parser


def print_bytes(data: bytes, columns: int = 42) -> EscPosParser:
    parser = printer(columns)
    parser.feed(data)
    return parser


def status(kind: StatusKind, **state: object) -> int:
    """The answer to DLE EOT ``kind`` from a printer in ``state``."""
    [answer] = printer(**state).feed(escpos.realtime_status(kind))
    return answer


def printed_receipt(receipt, mode: str, columns: int = 42):
    [printed] = print_bytes(receipt.to_escpos(mode, columns), columns).receipts
    return printed


# --- what is printed ---------------------------------------------------------------------


@pytest.mark.parametrize("columns", [42, 48])
def test_kanji_receipt_parses_into_exactly_what_the_layout_says(columns):
    receipt = layout(make_receipt_data())
    printed = printed_receipt(receipt, "kanji", columns)
    assert parsed(printed) == expected_kanji(receipt, columns)
    assert printed.complete
    assert printed.text[0] == "マイナポイント申込 受付票"


def test_raster_receipt_parses_into_bitmaps_and_a_native_qr_code():
    data = make_receipt_data()
    receipt = layout(data)
    printed = printed_receipt(receipt, "raster")
    assert parsed(printed) == expected_raster(receipt, 42)
    assert printed.qr_payloads == [data.status_url]
    assert printed.text == []


NAME_CHARACTERS = st.characters(
    codec="utf-8",
    categories=("Lu", "Ll", "Lo", "Nd", "Po", "Ps", "Pe", "So", "Zs"),
    max_codepoint=0x2FFFF,
)


@pytest.mark.slow
@settings(max_examples=25, deadline=None)
@given(service_name=st.text(NAME_CHARACTERS, min_size=1, max_size=60))
def test_any_service_name_prints_as_laid_out_or_as_its_raster(service_name):
    """Moved from the pty round trip: the driver sends ``to_escpos`` unchanged and reports
    ``print_mode`` as the mode used, so the parser alone decides this."""
    receipt = layout(make_receipt_data(service_name=service_name))
    printed = printed_receipt(receipt, "kanji")
    if receipt.print_mode("kanji") == "kanji":
        assert parsed(printed) == expected_kanji(receipt, 42)
    else:
        assert parsed(printed) == expected_raster(receipt, 42)


def test_a_command_split_between_reads_is_carried_out_once_whole():
    data = layout(make_receipt_data()).to_escpos("kanji", 42)
    parser = EscPosParser(42)
    for start in range(0, len(data), 7):
        parser.feed(data[start : start + 7])
    [printed] = parser.receipts
    assert printed.text == print_bytes(data).receipts[0].text and printed.complete


def test_nothing_is_a_receipt_until_the_cut():
    parser = print_bytes(escpos.INITIALIZE + b"ABC\n")
    assert parser.receipts == []
    parser.feed(escpos.feed_and_partial_cut())
    assert [r.text for r in parser.receipts] == [["ABC"]]


def test_half_width_katakana_prints_from_its_table_without_kanji_mode():
    line = "ﾃﾞﾝｼﾏﾈｰ".encode("shift_jis")
    parser = print_bytes(
        escpos.INITIALIZE
        + escpos.CHARACTER_TABLE_KATAKANA
        + line
        + b"\n"
        + escpos.feed_and_partial_cut()
    )
    assert parser.receipts[0].text == ["ﾃﾞﾝｼﾏﾈｰ"]


def test_every_command_the_kiosk_sends_is_understood():
    receipt = layout(make_receipt_data())
    parser = EscPosParser(42)
    for mode in ("kanji", "raster"):
        parser.feed(STATUS_QUERIES + receipt.to_escpos(mode, 42) + escpos.TRANSMIT_PAPER_STATUS)
    assert len(parser.receipts) == 2
    assert parser.unknown_commands == []


def test_unknown_commands_are_noted_and_skipped():
    parser = print_bytes(
        escpos.INITIALIZE + escpos.GS + b"Z\x01" + b"AB\n" + escpos.feed_and_partial_cut()
    )
    assert parser.unknown_commands == [escpos.GS + b"Z\x01"]
    assert parser.receipts[0].text == ["AB"]


# --- what it answers -----------------------------------------------------------------------


@pytest.mark.parametrize(("paper", "answer"), [("ok", 0x12), ("near_end", 0x1E), ("out", 0x7E)])
def test_paper_sensor_status_comes_from_the_paper_state(paper, answer):
    assert status(StatusKind.PAPER_SENSOR, paper=paper) == answer


def test_cover_open_answers_offline_with_its_cause():
    assert status(StatusKind.PRINTER, cover_open=True) & escpos.PRINTER_OFFLINE
    assert status(StatusKind.OFFLINE_CAUSE, cover_open=True) & escpos.OFFLINE_COVER_OPEN


def test_a_ready_printer_answers_every_status_query_with_nothing_wrong():
    assert EscPosParser().feed(STATUS_QUERIES) == bytes([escpos.STATUS_FIXED_BITS] * 4)


def test_paper_status_is_answered_in_order_after_what_came_before():
    parser = printer(paper="near_end")
    answer = parser.feed(escpos.INITIALIZE + b"A\n" + escpos.TRANSMIT_PAPER_STATUS)
    assert answer == bytes([escpos.TRANSMIT_NEAR_END])
    assert EscPosParser().feed(escpos.TRANSMIT_PAPER_STATUS) == b"\x00"


def test_status_query_bytes_inside_an_image_are_answered_as_they_arrive():
    query = escpos.DLE + escpos.EOT + b"\x04"
    band = escpos.RASTER_COMMAND + b"\x00" + b"\x03\x00" + b"\x03\x00" + query + b"\x00" * 3 + query
    parser = printer(paper="near_end")
    assert parser.feed(escpos.INITIALIZE + band[:10]) + parser.feed(band[10:]) == b"\x1e\x1e"
    parser.feed(escpos.feed_and_partial_cut())
    assert parser.receipts[0].complete and len(parser.receipts[0].images) == 1


def test_an_offline_printer_prints_nothing_and_leaves_paper_status_unanswered():
    parser = printer(offline=True)
    answers = parser.feed(
        escpos.INITIALIZE + b"ABC\n" + escpos.feed_and_partial_cut() + escpos.TRANSMIT_PAPER_STATUS
    )
    assert answers == b""
    assert parser.receipts == []
    assert parser.feed(escpos.realtime_status(StatusKind.PRINTER))[0] & escpos.PRINTER_OFFLINE


def test_paper_running_out_tears_off_what_was_printed_as_cut_short():
    data = layout(make_receipt_data()).to_escpos("kanji", 42)
    parser = EscPosParser()
    parser.feed(data[:300])
    parser.paper_runs_out()
    assert parser.feed(data[300:] + escpos.TRANSMIT_PAPER_STATUS) == b""
    [cut_short] = parser.receipts
    assert not cut_short.complete and cut_short.text
    assert parser.feed(escpos.realtime_status(StatusKind.PAPER_SENSOR)) == b"\x7e"


def test_the_cover_opening_tears_off_what_was_printed_as_cut_short():
    data = layout(make_receipt_data()).to_escpos("kanji", 42)
    parser = EscPosParser()
    parser.feed(data[:300])
    parser.cover_opens()
    parser.feed(data[300:])
    assert [r.complete for r in parser.receipts] == [False]


def test_paper_state_must_be_one_the_sensor_knows():
    with pytest.raises(ValueError):
        EscPosParser().paper = "low"
