"""ESC/POS encoding checked against an independent implementation (python-escpos)."""

from escpos.constants import QR_ECLEVEL_M
from escpos.printer import Dummy
from PIL import Image, ImageDraw

from drivers import escpos


def test_qr_command_is_the_one_python_escpos_sends_natively():
    reference = Dummy()
    reference.qr("https://mynapoint.example.jp/status/R-1", ec=QR_ECLEVEL_M, size=6, native=True)
    ours = escpos.qr_code(b"https://mynapoint.example.jp/status/R-1", 6, "M")
    assert ours == reference.output


def test_raster_band_is_the_one_python_escpos_sends():
    image = Image.new("L", (504, 200), 255)
    draw = ImageDraw.Draw(image)
    draw.text((10, 10), "受付番号", font=escpos.cjk_font(), fill=0)
    draw.line((503, 0, 503, 199), fill=0)  # ink up to the right edge: nothing to crop
    image = image.point(lambda v: 0 if v < 128 else 255)  # no grey: both libraries agree on dots
    reference = Dummy()
    reference.image(image, impl="bitImageRaster")
    assert escpos.raster_image(image) == reference.output


def test_white_space_is_not_sent_but_the_paper_advances_the_same():
    image = Image.new("L", (504, 100), 255)
    ImageDraw.Draw(image).rectangle((0, 40, 15, 59), fill=0)  # 20 inked rows, 2 bytes wide
    bands = escpos.raster_image(image)
    assert len(bands) == 3 * 8 + 40 * 1 + 20 * 2 + 40 * 1
    heights = [int.from_bytes(bands[i + 6 : i + 8], "little") for i in (0, 48, 96)]
    assert heights == [40, 20, 40]


def test_kanji_text_is_shift_jis_and_never_raises():
    assert escpos.encode_kanji_text("受付ｶﾅ") == "受付ｶﾅ".encode("shift_jis")
    assert escpos.encode_kanji_text("Pay😀") == b"Pay" + "〓".encode("shift_jis")


def test_full_width_and_ambiguous_characters_take_two_columns():
    assert [escpos.cells(ch) for ch in "Aｶあ※𠮷"] == [1, 1, 2, 2, 2]


def test_status_answers_are_told_apart_from_in_order_answers():
    assert escpos.is_realtime_status(0x12) and not escpos.is_transmit_status(0x12)
    assert escpos.is_transmit_status(0x03) and not escpos.is_realtime_status(0x03)
