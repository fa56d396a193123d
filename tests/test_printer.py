"""The printer driver over a real pty: status before and after printing, typed errors,
and a receipt that could not be printed is never lost."""

import os
import tty

import pytest

from drivers import escpos
from drivers.printer import (
    PrinterCoverOpen,
    PrinterDisconnected,
    PrinterOffline,
    PrinterOutOfPaper,
    PrinterStatus,
    PrinterTimeout,
    ReceiptPrinter,
)
from kiosk.receipt import layout, render_image
from sim.printer import VirtualPrinter
from sim.printer.samples import make_receipt_data

pytest_plugins = ["tests.fixtures.printer"]


@pytest.fixture
def receipt():
    return layout(make_receipt_data())


def test_status_of_a_ready_printer_is_online_with_paper(receipt_printer):
    assert receipt_printer.status() == PrinterStatus(online=True)


def test_a_receipt_prints_and_reports_the_status_after(receipt_printer, virtual_printer, receipt):
    result = receipt_printer.print_receipt(receipt).result(timeout=10)
    assert result.status_after.online and not result.paper_near_end
    assert virtual_printer.wait_for_receipts(1)[0].complete


def test_paper_near_end_is_a_warning_not_an_error(receipt_printer, virtual_printer, receipt):
    virtual_printer.paper = "near_end"
    result = receipt_printer.print_receipt(receipt).result(timeout=10)
    assert result.paper_near_end
    assert virtual_printer.wait_for_receipts(1)[0].complete


def test_paper_out_before_printing_is_a_typed_error_and_sends_nothing(
    receipt_printer, virtual_printer, receipt
):
    virtual_printer.paper = "out"
    with pytest.raises(PrinterOutOfPaper) as error:
        receipt_printer.print_receipt(receipt).result(timeout=10)
    assert error.value.kind == "printer_no_paper" and not error.value.during_print
    assert virtual_printer.bytes_received == 4 * 3  # the four DLE EOT queries, no receipt
    assert virtual_printer.receipts == []


def test_receipt_refused_for_no_paper_can_still_be_shown_on_screen(
    receipt_printer, virtual_printer, receipt
):
    virtual_printer.paper = "out"
    with pytest.raises(PrinterOutOfPaper) as error:
        receipt_printer.print_receipt(receipt).result(timeout=10)
    assert error.value.receipt is receipt
    assert render_image(error.value.receipt).height > 600


def test_paper_running_out_mid_receipt_is_reported(receipt_printer, virtual_printer, receipt):
    virtual_printer.run_out_of_paper_after(300)
    with pytest.raises(PrinterOutOfPaper) as error:
        receipt_printer.print_receipt(receipt).result(timeout=10)
    assert error.value.during_print
    assert error.value.receipt is receipt
    [cut_short] = virtual_printer.wait_for_receipts(1)
    assert not cut_short.complete


def test_printing_works_again_once_paper_is_replaced(receipt_printer, virtual_printer, receipt):
    virtual_printer.paper = "out"
    with pytest.raises(PrinterOutOfPaper):
        receipt_printer.print_receipt(receipt).result(timeout=10)
    virtual_printer.paper = "ok"
    receipt_printer.print_receipt(receipt).result(timeout=10)
    assert virtual_printer.wait_for_receipts(1)[0].complete


def test_open_cover_is_a_typed_error(receipt_printer, virtual_printer, receipt):
    virtual_printer.cover_open = True
    with pytest.raises(PrinterCoverOpen) as error:
        receipt_printer.print_receipt(receipt).result(timeout=10)
    assert error.value.kind == "printer_cover_open"


def test_offline_printer_is_a_typed_error(receipt_printer, virtual_printer, receipt):
    virtual_printer.offline = True
    with pytest.raises(PrinterOffline) as error:
        receipt_printer.print_receipt(receipt).result(timeout=10)
    assert error.value.kind == "printer_offline"


def test_port_vanishing_is_reported_as_disconnected(receipt_printer, virtual_printer, receipt):
    receipt_printer.status()  # the port is open
    virtual_printer.vanish()
    with pytest.raises(PrinterDisconnected) as error:
        receipt_printer.print_receipt(receipt).result(timeout=10)
    assert error.value.kind == "printer_disconnected"
    assert error.value.receipt is receipt
    assert not error.value.during_print  # it vanished before anything was sent


def test_a_port_that_does_not_exist_is_reported_as_disconnected(tmp_path, receipt):
    with ReceiptPrinter(str(tmp_path / "ttyUSB9"), status_timeout=0.2) as printer:
        with pytest.raises(PrinterDisconnected):
            printer.print_receipt(receipt).result(timeout=10)


def test_a_printer_that_never_answers_times_out(receipt):
    master, slave = os.openpty()  # a port with nobody on the other end
    tty.setraw(slave)
    try:
        with ReceiptPrinter(os.ttyname(slave), status_timeout=0.2) as printer:
            with pytest.raises(PrinterTimeout) as error:
                printer.print_receipt(receipt).result(timeout=10)
        assert error.value.kind == "printer_timeout"
    finally:
        os.close(master)
        os.close(slave)


def test_jobs_print_one_after_the_other_in_order(receipt_printer, virtual_printer):
    first = layout(make_receipt_data(receipt_no="R-1", status_url="https://x/status/R-1"))
    second = layout(make_receipt_data(receipt_no="R-2", status_url="https://x/status/R-2"))
    futures = [receipt_printer.print_receipt(first), receipt_printer.print_receipt(second)]
    for future in futures:
        future.result(timeout=10)
    printed = virtual_printer.wait_for_receipts(2)
    assert [r.qr_payloads for r in printed] == [["https://x/status/R-1"], ["https://x/status/R-2"]]


@pytest.mark.parametrize(
    ("answers", "problem"),
    [
        ((0x12, 0x12, 0x12, 0x12), None),
        ((0x1A, 0x16, 0x12, 0x12), PrinterCoverOpen),
        ((0x1A, 0x32, 0x12, 0x7E), PrinterOutOfPaper),
        ((0x12, 0x12, 0x12, 0x1E), None),  # near end only
        ((0x1A, 0x52, 0x1A, 0x12), PrinterOffline),  # autocutter error
    ],
)
def test_dle_eot_answers_map_to_the_right_error(answers, problem):
    assert PrinterStatus.from_bytes(*answers).problem is problem


def test_printing_resumes_when_the_printer_is_plugged_back_in(tmp_path, receipt):
    link = tmp_path / "ttyPRINTER"  # a stable name, as a udev rule gives a USB printer
    first = VirtualPrinter(tmp_path / "first")
    link.symlink_to(first.start())
    with ReceiptPrinter(str(link), status_timeout=0.5) as printer:
        try:
            printer.print_receipt(receipt).result(timeout=10)
            first.vanish()
            with pytest.raises(PrinterDisconnected):
                printer.print_receipt(receipt).result(timeout=10)
        finally:
            first.stop()
        with VirtualPrinter(tmp_path / "second") as second:
            link.unlink()
            link.symlink_to(second.port)
            printer.print_receipt(receipt).result(timeout=10)
            assert second.wait_for_receipts(1)[0].complete


def test_image_bytes_that_look_like_a_status_query_do_not_confuse_the_status(
    receipt_printer, virtual_printer
):
    # A printer answers DLE EOT 4 even inside image data; with paper near its end that
    # answer (0x1E) has the bit that means "offline" in a DLE EOT 1 answer.
    virtual_printer.paper = "near_end"
    query_lookalike = escpos.DLE + escpos.EOT + b"\x04"
    band = escpos.RASTER_COMMAND + b"\x00" + b"\x03\x00" + b"\x03\x00"  # 3 x 3 bytes
    band += query_lookalike + b"\x00\x00\x00" + query_lookalike
    job = escpos.INITIALIZE + band + escpos.feed_and_partial_cut()
    result = receipt_printer.print_receipt(job).result(timeout=10)
    assert result.paper_near_end and result.status_after.online
    assert virtual_printer.wait_for_receipts(1)[0].complete


def test_port_vanishing_mid_receipt_is_reported_as_disconnected(
    receipt_printer, virtual_printer, receipt
):
    virtual_printer.vanish_after(300)
    with pytest.raises(PrinterDisconnected) as error:
        receipt_printer.print_receipt(receipt).result(timeout=10)
    assert error.value.during_print
    assert error.value.receipt is receipt


def test_cover_opened_mid_receipt_is_reported(receipt_printer, virtual_printer, receipt):
    virtual_printer.open_cover_after(300)
    with pytest.raises(PrinterCoverOpen) as error:
        receipt_printer.print_receipt(receipt).result(timeout=10)
    assert error.value.during_print
    assert not virtual_printer.wait_for_receipts(1)[0].complete
