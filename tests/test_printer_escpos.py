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
    ImageDraw.Draw(image).text((10, 10), "受付番号", font=escpos.cjk_font(), fill=0)
    image = image.point(lambda v: 0 if v < 128 else 255)  # no grey: both libraries agree on dots
    reference = Dummy()
    reference.image(image, impl="bitImageRaster")
    assert escpos.raster_image(image) == reference.output


def test_kanji_text_is_shift_jis_and_never_raises():
    assert escpos.encode_kanji_text("受付ｶﾅ") == "受付ｶﾅ".encode("shift_jis")
    assert escpos.encode_kanji_text("Pay😀") == b"Pay" + "〓".encode("shift_jis")


def test_full_width_and_ambiguous_characters_take_two_columns():
    assert [escpos.cells(ch) for ch in "Aｶあ※𠮷"] == [1, 1, 2, 2, 2]


def test_status_answers_are_told_apart_from_in_order_answers():
    assert escpos.is_realtime_status(0x12) and not escpos.is_transmit_status(0x12)
    assert escpos.is_transmit_status(0x03) and not escpos.is_realtime_status(0x03)
