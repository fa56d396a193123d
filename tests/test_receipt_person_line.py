"""Issue 10: the printed receipt stays Japanese for the service desk, with one short line
in the person's own language near the top. Printed through the driver and a real pty
to the virtual printer: the line is text where Shift_JIS carries it, a raster band in
the script's own font where it does not, and the Japanese part is what it always was."""

from __future__ import annotations

import dataclasses
import logging

import pytest

from drivers import escpos
from drivers.printer import ReceiptPrinter
from kiosk import i18n
from kiosk.catalog import Catalog
from kiosk.receipt import PersonLine, layout
from kiosk.receipt_facts import ReceiptSettings, receipt_data, sample_facts
from sim.printer.parser import PrintedImage, PrintedText
from sim.printer.samples import expected_kanji, make_receipt_data, parsed

pytest_plugins = ["tests.fixtures.printer"]

DRAWN = ("th", "ne", "vi", "ko", "pt-BR")  # scripts or accents Shift_JIS lacks
AS_TEXT = ("ja-x-easy", "fil", "id")  # Shift_JIS carries these lines


def print_on(virtual_printer, receipt, mode="kanji", columns=42):
    virtual_printer.columns = columns
    with ReceiptPrinter(virtual_printer.port, mode=mode, columns=columns, print_timeout=5) as p:
        p.print_receipt(receipt).result(timeout=10)
    [printed] = virtual_printer.wait_for_receipts(1)
    return printed


def japanese_part(printed):
    """What was printed, less drawn bands."""
    return [item for item in parsed(printed) if item[0] != "image"]


def ink_rows(image):
    bitmap = escpos.to_print_bitmap(image)
    return [y for y in range(bitmap.height) if bitmap.crop((0, y, bitmap.width, y + 1)).getbbox()]


@pytest.mark.parametrize("lang", DRAWN)
def test_a_session_in_a_script_outside_shift_jis_gets_its_line_as_a_band(virtual_printer, lang):
    columns = 48 if lang in ("th", "ko") else 42
    japanese = layout(make_receipt_data())
    receipt = layout(make_receipt_data(person_lang=lang))
    printed = print_on(virtual_printer, receipt, "kanji", columns)

    assert printed.complete
    assert japanese_part(printed) == expected_kanji(japanese, columns)  # unchanged
    kinds = [type(item) for item in printed.items]
    assert kinds.count(PrintedImage) == 1
    band = printed.images[0]
    at = kinds.index(PrintedImage)
    assert printed.items[at - 1].text == japanese[1].text  # under the store's name
    assert isinstance(printed.items[at + 1], PrintedText)  # then the rule
    text = i18n.t("receipt.person_line", lang)
    lines = escpos.wrap_person_line(text, columns * escpos.DOTS_PER_COLUMN, lang)
    assert 1 <= len(lines) <= 2  # a short line: one or two printed lines
    assert "".join(lines).replace(" ", "") == text.replace(" ", "")  # nothing dropped
    assert band.height == len(lines) * escpos.PERSON_LINE_DOTS
    rows = ink_rows(band)
    assert rows, "the band carries no ink"
    for row in range(len(lines)):  # every wrapped line is inked
        top = row * escpos.PERSON_LINE_DOTS
        assert any(top <= y < top + escpos.PERSON_LINE_DOTS for y in rows)
    bbox = escpos.to_print_bitmap(band).getbbox()
    assert bbox[2] <= columns * escpos.DOTS_PER_COLUMN  # fits the paper


@pytest.mark.parametrize("lang", AS_TEXT)
def test_a_line_shift_jis_carries_goes_as_text(virtual_printer, lang):
    receipt = layout(make_receipt_data(person_lang=lang))
    printed = print_on(virtual_printer, receipt, "kanji", 42)
    assert printed.images == []
    assert parsed(printed) == expected_kanji(receipt, 42)
    joined = "".join(printed.text)
    want = i18n.t("receipt.person_line", lang)
    assert want.replace(" ", "") in joined.replace(" ", "")


@pytest.mark.parametrize("columns", [42, 48])
@pytest.mark.parametrize("lang", DRAWN + AS_TEXT)
def test_the_line_fits_the_paper(lang, columns):
    receipt = layout(make_receipt_data(person_lang=lang))
    line = next(block for block in receipt if isinstance(block, PersonLine))
    width = columns * escpos.DOTS_PER_COLUMN
    if line.as_text:  # wrapped by the printer's cells like every other text line
        assert all(escpos.text_cells(x) <= columns for x in _text_lines(receipt, columns))
    else:
        band = escpos.draw_person_line(line.text, columns, lang)
        assert band.width == width
        bbox = escpos.to_print_bitmap(band).getbbox()
        assert bbox is not None and bbox[2] <= width


def _text_lines(receipt, columns):
    from kiosk.receipt import Line, print_items

    return [item.text for item in print_items(receipt, columns) if isinstance(item, Line)]


def test_the_line_is_in_the_sessions_language_only_when_the_paper_is_not():
    settings = ReceiptSettings(store_name="テスト店", status_url="https://x.example/{receipt_no}")
    catalog = Catalog.load()
    for lang, paper, person in [("th", "ja", "th"), ("en", "en", ""), ("ja", "ja", "")]:
        data = receipt_data(sample_facts(), settings, catalog, lang=lang)
        assert (data.lang, data.person_lang) == (paper, person)
        lines = [b for b in layout(data) if isinstance(b, PersonLine)]
        assert [line.lang for line in lines] == ([person] if person else [])


def test_a_missing_font_prints_the_receipt_without_the_line_and_logs_it(
    virtual_printer, monkeypatch, caplog, tmp_path
):
    missing = str(tmp_path / "NotoSansThai-Regular.ttf")
    monkeypatch.setitem(escpos.SCRIPT_FONT_FILES, "thai", missing)
    caplog.set_level(logging.WARNING, logger="mynapoint.receipt")
    data = make_receipt_data(person_lang="th")
    printed = print_on(virtual_printer, layout(data), "kanji", 42)
    assert printed.complete
    assert printed.images == []
    assert parsed(printed) == expected_kanji(layout(make_receipt_data()), 42)
    assert printed.qr_payloads == [data.status_url]
    assert "th" in caplog.text and "fonts-noto-core" in caplog.text


def test_raster_mode_draws_the_line_too():
    from kiosk.receipt import render_image

    plain = render_image(layout(make_receipt_data()))
    with_line = render_image(layout(make_receipt_data(person_lang="ne")))
    lines = escpos.wrap_person_line(
        i18n.t("receipt.person_line", "ne"), 42 * escpos.DOTS_PER_COLUMN, "ne"
    )
    assert with_line.height - plain.height == len(lines) * escpos.PERSON_LINE_DOTS


def test_an_unknown_person_language_is_refused_by_name():
    from kiosk.receipt import InvalidReceiptData

    with pytest.raises(InvalidReceiptData, match="xx"):
        make_receipt_data(person_lang="xx")
    assert dataclasses.replace(make_receipt_data(), person_lang="").person_lang == ""


@pytest.mark.parametrize("lang", [lang for lang in i18n.LANGUAGES if lang not in ("ja", "en")])
def test_no_character_of_a_drawn_line_falls_back_to_a_missing_glyph(lang):
    text = i18n.t("receipt.person_line", lang)
    if not escpos.sjis_encodable(text):
        assert escpos.person_line_missing_glyphs(text, lang) == set()


def test_an_emoji_is_reported_as_missing():  # the check above can fail
    assert escpos.person_line_missing_glyphs("ok \U0001f600", "vi") == {"\U0001f600"}


def test_a_raster_printer_gets_the_line_as_bitmaps_only(virtual_printer):
    data = make_receipt_data(person_lang="th")
    printed = print_on(virtual_printer, layout(data), "raster", 42)
    assert printed.complete and printed.text == []
    assert printed.qr_payloads == [data.status_url]
    plain = print_on_again(virtual_printer, layout(make_receipt_data()), "raster", 42)
    lines = escpos.wrap_person_line(i18n.t("receipt.person_line", "th"), 504, "th")
    grown = sum(i.height for i in printed.images) - sum(i.height for i in plain.images)
    assert grown == len(lines) * escpos.PERSON_LINE_DOTS


def print_on_again(virtual_printer, receipt, mode, columns):
    with ReceiptPrinter(virtual_printer.port, mode=mode, columns=columns, print_timeout=5) as p:
        p.print_receipt(receipt).result(timeout=10)
    return virtual_printer.wait_for_receipts(2)[1]


@pytest.mark.parametrize("lang", ["zh-Hans", "zh-Hant"])
def test_chinese_breaks_after_its_punctuation_not_inside_a_word(lang):
    text = i18n.t("receipt.person_line", lang)
    lines = escpos.wrap_person_line(text, 42 * escpos.DOTS_PER_COLUMN, lang)
    assert "".join(lines) == text
    assert all(line[-1] in escpos.BREAK_AFTER for line in lines[:-1])


def test_a_word_wider_than_the_paper_is_cut_between_characters_and_kept_whole():
    word = "ก" * 120
    lines = escpos.wrap_person_line(f"ok {word}", 42 * escpos.DOTS_PER_COLUMN, "th")
    assert "".join(lines).replace(" ", "") == "ok" + word
    band = escpos.draw_person_line(f"ok {word}", 42, "th")
    assert band.width == 42 * escpos.DOTS_PER_COLUMN
    assert band.height == len(lines) * escpos.PERSON_LINE_DOTS
