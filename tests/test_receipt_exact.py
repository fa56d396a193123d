"""Receipts exactly as a real printer prints them, decoded by the virtual printer's parser
(which follows Epson's command reference where a printer differs from our layout):
raster bands placed by ESC a, widths counted from the bytes sent, kinsoku for half-width
(han)dakuten, combining marks never dropped, \\ and ~ on a Japan-default printer."""

from __future__ import annotations

import pytest
from PIL import Image

from drivers import escpos
from drivers.escpos import Align
from drivers.printer_profiles import PROFILES
from kiosk.receipt import Line, effective_mode, layout, print_items, raster_segments, wrap
from sim.printer import EscPosParser, PrintedImage
from sim.printer.samples import dots, make_receipt_data


def printed(receipt, mode: str, columns: int, **printer: object):
    parser = EscPosParser(columns, **printer)
    parser.feed(receipt.to_escpos(mode, columns))
    [out] = parser.receipts
    return out


# --- raster bands and ESC a ------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("profile_id", ["epson-tm-t88vi", "epson-tm-t20"])
def test_every_raster_band_starts_at_the_left_margin_after_the_centred_qr_code(profile_id):
    profile = PROFILES[profile_id]  # 42 columns on 512 dots, 48 on 576
    columns, paper = profile.max_columns, profile.dots_per_line
    receipt = layout(make_receipt_data())
    drawn = [s for s in raster_segments(receipt, columns) if isinstance(s, Image.Image)]
    items = printed(receipt, "raster", columns, dots=paper).items
    on_paper = [item.image for item in items if isinstance(item, PrintedImage)]
    assert len(on_paper) == len(drawn)
    for image, segment in zip(on_paper, drawn, strict=True):
        # the footer after the QR code too: not shifted right ("カードのお取り忘れ…"
        # landed 28 dots right at 42 columns and 40 at 48)
        assert dots(image.crop((0, 0, segment.width, image.height))) == dots(segment)
        if image.width > segment.width:  # 512 dots, 504 of them drawn: the rest is paper
            margin = image.crop((segment.width, 0, image.width, image.height))
            assert margin.getextrema() == (255, 255)


def test_the_parser_places_raster_bands_as_esc_a_says():
    band = escpos.raster_image(Image.new("L", (8, 24), 0))  # 8 dots wide, all ink
    parser = EscPosParser(42)
    parser.feed(escpos.justification(Align.CENTER) + band + escpos.feed_and_partial_cut())
    [image] = parser.receipts[0].images
    left = next(x for x in range(image.width) if image.getpixel((x, 0)) == 0)
    assert left == (42 * 12 - 8) // 2


# --- widths from the bytes sent -------------------------------------------------------------


@pytest.mark.slow
def test_every_character_the_encoder_can_send_counts_the_columns_of_its_bytes():
    wrong = [
        ch
        for code in range(0x20, 0x10000)
        if (ch := chr(code))
        and escpos.kanji_bytes(ch) is not None
        and escpos.cells(ch) != len(escpos.encode_kanji_text(ch))
    ]
    assert wrong == []


def test_yen_and_minus_take_two_columns_and_the_overline_is_sent_as_two_bytes():
    assert [escpos.cells(ch) for ch in "¢£¥¬−"] == [2] * 5
    assert escpos.encode_kanji_text("‾") == "￣".encode("shift_jis")
    assert escpos.cells("‾") == 2


@pytest.mark.parametrize("columns", [42, 48])
def test_a_line_of_yen_and_minus_signs_never_exceeds_the_printers_dots(columns):
    store = "¥1,000−¥500 " * 12
    receipt = layout(make_receipt_data(store_name=store, campaign_rule="−10% ¥" * 20))
    lines = printed(receipt, "kanji", columns).lines
    assert max(line.dots for line in lines) <= columns * escpos.DOTS_PER_COLUMN
    assert "".join(line.text for line in lines).count("￥") >= 24  # nothing lost to wrapping


# --- kinsoku --------------------------------------------------------------------------------


@pytest.mark.parametrize("mark", ["ﾞ", "ﾟ"])
def test_half_width_dakuten_never_starts_a_line(mark):
    text = "ｱ" * 23 + "ﾍ" + mark + "ｲ"  # the mark would be the 25th column of 24
    lines = wrap(text, 24)
    assert not any(line.startswith(mark) for line in lines)
    assert "".join(lines) == text


# --- combining marks and variation selectors -----------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("name", ["か゚ード", "葛\U000e0100飾ペイ"])
def test_a_combining_mark_or_variation_selector_is_kept_and_printed_in_raster(name):
    receipt = layout(make_receipt_data(service_name=name))
    assert effective_mode(receipt, "kanji") == "raster"
    assert any(name in item.text for item in print_items(receipt, 42) if isinstance(item, Line))
    assert printed(receipt, "kanji", 42).images  # the printer got bitmaps, not text


@pytest.mark.parametrize(("marked", "plain"), [("か\u309a", "か"), ("葛\U000e0100", "葛")])
def test_the_mark_or_the_selected_glyph_is_drawn_not_dropped(marked, plain):
    with_mark = escpos.draw_text_line(marked, 24)
    without = escpos.draw_text_line(plain, 24)
    assert with_mark.width == without.width  # one character, two columns
    assert with_mark.tobytes() != without.tobytes()  # ゚ drawn; 葛's variant glyph (raqm)


# --- the international character set -------------------------------------------------------


def test_backslash_and_tilde_print_as_themselves_on_a_japan_default_printer():
    receipt = layout(make_receipt_data(store_name=r"C:\shop ~1"))
    out = printed(receipt, "kanji", 42, international=escpos.INTERNATIONAL_JAPAN)
    assert r"C:\shop ~1" in out.text


def test_every_receipt_selects_the_usa_set_right_after_initialising():
    receipt = layout(make_receipt_data())
    for mode in ("kanji", "raster"):
        start = escpos.INITIALIZE + escpos.INTERNATIONAL_USA
        assert receipt.to_escpos(mode, 42).startswith(start)


def test_the_parser_prints_yen_for_backslash_until_esc_r_0():
    parser = EscPosParser(42, international=escpos.INTERNATIONAL_JAPAN)
    parser.feed(
        escpos.INITIALIZE
        + b"a\\b~\n"
        + escpos.INTERNATIONAL_USA
        + b"a\\b~\n"
        + escpos.feed_and_partial_cut()
    )
    assert parser.receipts[0].text == ["a¥b‾", "a\\b~"]


def test_the_parser_wraps_a_line_wider_than_the_paper_as_the_printer_does():
    parser = EscPosParser(42, dots=512)  # TM-T88VI: 42 columns use 504 of its 512 dots
    parser.feed(escpos.INITIALIZE + b"x" * 43 + b"\n" + escpos.feed_and_partial_cut())
    assert [(line.text, line.dots) for line in parser.receipts[0].lines] == [
        ("x" * 42, 504),
        ("x", 12),
    ]
