"""The receipt layout: what the person takes home says the right things, in their language."""

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers import escpos
from kiosk.receipt import (
    HEADING,
    InvalidReceiptData,
    Line,
    QRCode,
    Text,
    effective_mode,
    layout,
    mask_service_user_id,
    print_items,
    render_escpos,
    render_image,
    render_png,
    wrap,
)
from sim.printer.samples import make_receipt_data


def texts(data) -> list[str]:
    return [block.text for block in layout(data) if isinstance(block, Text)]


def test_service_id_is_masked_but_for_its_last_four_characters():
    lines = texts(make_receipt_data(service_user_id="09012345678"))
    assert "決済サービスID: *******5678" in lines
    assert not any("0901234" in line for line in lines)


def test_a_short_service_id_never_shows_more_than_half():
    assert mask_service_user_id("1234") == "**34"


def test_issue_time_is_printed_in_japan_time():
    new_york = timezone(timedelta(hours=-5))
    data = make_receipt_data(issued_at=datetime(2026, 11, 25, 19, 27, tzinfo=new_york))
    assert "発行日時: 2026年11月26日 09:27" in texts(data)


def test_accepted_receipt_shows_the_mykey_id():
    assert "マイキーID: AB12CD34" in texts(make_receipt_data(state="accepted"))


def test_pending_receipt_says_what_happens_next():
    lines = texts(make_receipt_data(state="pending", mykey_id=None))
    assert "受付済み（送信待ち）" in lines
    assert any("自動で送信します" in line for line in lines)


def test_legal_representative_application_is_stated():
    assert "法定代理人による申込" in texts(make_receipt_data(legal_representative=True))
    assert "法定代理人による申込" not in texts(make_receipt_data(legal_representative=False))


def test_campaign_rule_from_configuration_is_worded_by_the_catalog():
    lines = texts(make_receipt_data(campaign_rule={"rate_percent": 25, "cap_points": 5000}))
    assert "チャージまたはお買い物の25%（上限5,000ポイント）" in lines


def test_campaign_rule_given_as_text_is_printed_as_is():
    assert "健康保険証の利用登録 7,500ポイント" in texts(
        make_receipt_data(campaign_rule="健康保険証の利用登録 7,500ポイント")
    )


def test_english_receipt_is_all_english():
    lines = texts(make_receipt_data(lang="en", store_name="Lawson Shinjuku"))
    assert lines[0] == "Mynapoint application receipt"
    assert "Payment service ID: *******5678" in lines
    assert all(escpos.text_cells(line) == len(line) for line in lines)  # no full-width text


def test_receipt_ends_with_the_card_reminder_and_a_cut():
    receipt = layout(make_receipt_data())
    assert "カードのお取り忘れにご注意ください" in texts(make_receipt_data())
    assert type(receipt[-1]).__name__ == "Cut"


def test_qr_code_carries_the_status_url():
    data = make_receipt_data()
    assert [b.payload for b in layout(data) if isinstance(b, QRCode)] == [data.status_url]


def test_state_is_a_double_size_heading():
    receipt = layout(make_receipt_data(state="rejected", mykey_id=None))
    assert Text("申込できませんでした", HEADING, escpos.Align.CENTER) in list(receipt)


def test_naive_issue_time_is_refused_with_a_typed_error():
    with pytest.raises(InvalidReceiptData) as error:
        make_receipt_data(issued_at=datetime(2026, 11, 26, 9, 27))
    assert error.value.kind == "receipt_invalid"


def test_status_url_without_the_receipt_number_is_refused():
    with pytest.raises(InvalidReceiptData):
        make_receipt_data(status_url="https://mynapoint.example.jp/status/")


def test_unknown_state_is_refused():
    with pytest.raises(InvalidReceiptData):
        make_receipt_data(state="done")


def test_control_characters_in_data_cannot_inject_printer_commands():
    data = make_receipt_data(store_name="店\x1bd\x05\x1dV\x01名")
    escpos_bytes = render_escpos(layout(data), "kanji", 42)
    assert escpos.feed_lines(5) not in escpos_bytes
    assert escpos_bytes.count(b"\x1dV") == 1  # only the receipt's own cut


@pytest.mark.parametrize("columns", [42, 48])
def test_long_service_name_wraps_at_the_column_limit(columns):
    name = "とても長い名前の決済サービス（ポイント還元プログラム対象）ＡＢＣカード ﾊﾝｶｸｶﾅ Pay"
    receipt = layout(make_receipt_data(service_name=name))
    lines = [item.text for item in print_items(receipt, columns) if isinstance(item, Line)]
    assert all(escpos.text_cells(line) <= columns for line in lines)
    start = lines.index("選択した決済サービス") + 1
    end = next(i for i, line in enumerate(lines) if line.startswith("決済サービスID"))
    wrapped = lines[start:end]
    assert len(wrapped) >= 2
    assert escpos.text_cells(wrapped[0]) >= columns - 1  # filled, not cut early
    assert "".join(wrapped).replace(" ", "") == name.replace(" ", "")


def test_double_size_text_wraps_at_half_the_columns():
    lines = wrap("申込完了申込完了申込完了申込完了申込完了申込完了", 42, scale=2)
    assert [escpos.text_cells(line) * 2 for line in lines] == [40, 40, 16]


def test_english_wraps_between_words():
    assert wrap("Check the result with the QR code below.", 20) == [
        "Check the result",
        "with the QR code",
        "below.",
    ]


@settings(max_examples=150, deadline=None)
@given(st.text(min_size=1, max_size=120), st.sampled_from([24, 32, 42, 48]))
def test_wrapping_never_overflows_and_loses_no_character(text, columns):
    text = "".join(ch for ch in text if not ch.isspace())  # wrapping may drop spaces only
    lines = wrap(text, columns)
    assert all(escpos.text_cells(line) <= columns for line in lines)
    assert "".join(lines) == text


def test_receipt_with_text_outside_shift_jis_prints_as_raster_on_a_kanji_printer():
    receipt = layout(make_receipt_data(service_name="𠮷野家ペイ"))
    assert effective_mode(receipt, "kanji") == "raster"
    assert escpos.KANJI_MODE_ON not in render_escpos(receipt, "kanji", 42)


def test_windows_wave_dash_still_prints_in_kanji_mode():
    receipt = layout(make_receipt_data(store_name="新宿店（10:00～22:00）"))
    assert effective_mode(receipt, "kanji") == "kanji"


def test_emoji_the_font_lacks_is_drawn_as_geta():
    assert escpos.drawable_text("Pay😀") == "Pay〓"
    assert escpos.drawable_text("𠮷野家") == "𠮷野家"


def test_render_image_is_the_width_of_the_paper_and_not_blank():
    image = render_image(layout(make_receipt_data()), columns=42)
    assert image.width >= 42 * escpos.DOTS_PER_COLUMN
    assert image.height > 600
    assert image.getextrema() == (0, 255)


def test_render_image_draws_every_line_of_the_layout():
    receipt = layout(make_receipt_data())
    lines = [item for item in print_items(receipt, 42) if isinstance(item, Line)]
    short = layout(make_receipt_data(state="rejected", mykey_id=None))
    fewer = [item for item in print_items(short, 42) if isinstance(item, Line)]
    difference = render_image(receipt).height - render_image(short).height
    assert difference == sum(
        escpos.LINE_DOTS * (2 if line.style.double_height else 1) for line in lines
    ) - sum(escpos.LINE_DOTS * (2 if line.style.double_height else 1) for line in fewer)


def test_a_full_stop_never_begins_a_line():
    lines = wrap("あいうえおかきくけこさしすせそたちつてとな。に", 42)
    assert lines == ["あいうえおかきくけこさしすせそたちつてと", "な。に"]


def test_an_opening_bracket_never_ends_a_line():
    lines = wrap("あいうえおかきくけこさしすせそたちつてと（なに）", 42)
    assert lines == ["あいうえおかきくけこさしすせそたちつてと", "（なに）"]


def test_an_id_already_masked_by_the_flow_is_printed_the_same():
    assert mask_service_user_id(mask_service_user_id("09012345678")) == "*******5678"


def test_render_png_gives_png_bytes_for_the_screen():
    assert render_png(layout(make_receipt_data())).startswith(b"\x89PNG\r\n\x1a\n")
