"""The same driver and the same bytes over each transport a store has: serial, the USB
printer class and raw TCP 9100, each against the virtual printer.

- serial: the virtual printer's pty, opened with pyserial;
- usb: the pty again, as the stand-in for a USB printer class character device
  (``/dev/usb/lp0``). usblp has no ioctl we use: the transport opens the device
  read/write, non-blocking, and moves bytes with ``os.read``/``os.write`` and
  ``select``, which a pty slave supports exactly so. A real lp device is not needed;
- network: the virtual printer listening on a loopback TCP port.

Faults on each: paper out mid-receipt, the printer gone mid-receipt (pty closed, or the
TCP connection reset), a network printer refusing the connection. Each gives the typed
error carrying the receipt, and the receipt can be printed again."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from drivers.printer import (
    PrinterDisconnected,
    PrinterOutOfPaper,
    PrinterStatus,
    ReceiptPrinter,
    open_transport,
)
from kiosk.receipt import layout
from sim.printer import VirtualPrinter
from sim.printer.samples import expected_kanji, make_receipt_data, parsed

TRANSPORTS = ("serial", "usb", "network")


@pytest.fixture(params=TRANSPORTS)
def kind(request) -> str:
    return request.param


@pytest.fixture
def vprinter(tmp_path, kind) -> Iterator[VirtualPrinter]:
    printer = VirtualPrinter(tmp_path / "receipts", link="tcp" if kind == "network" else "pty")
    printer.start()
    try:
        yield printer
    finally:
        printer.stop()


def driver(kind: str, address: str) -> ReceiptPrinter:
    return ReceiptPrinter(
        open_transport(kind, address),
        mode="kanji",
        columns=42,
        status_timeout=2.0,  # generous: the machine is shared; answers normally take ~1 ms
        print_timeout=10.0,
        poll_interval=0.1,
    )


@pytest.fixture
def printer(kind, vprinter) -> Iterator[ReceiptPrinter]:
    with driver(kind, vprinter.port) as printer:
        yield printer


@pytest.fixture
def receipt():
    return layout(make_receipt_data())


def test_status_is_read_over_the_transport(printer):
    assert printer.status() == PrinterStatus(online=True)


def test_a_receipt_prints_the_same_over_every_transport(printer, vprinter, receipt):
    result = printer.print_receipt(receipt).result(timeout=15)
    assert result.bytes_sent == len(receipt.to_escpos("kanji", 42))
    [paper] = vprinter.wait_for_receipts(1)
    assert paper.complete and parsed(paper) == expected_kanji(receipt, 42)


def test_paper_out_mid_receipt_is_reported_and_the_receipt_prints_again(printer, vprinter, receipt):
    vprinter.run_out_of_paper_after(300)
    with pytest.raises(PrinterOutOfPaper) as error:
        printer.print_receipt(receipt).result(timeout=15)
    assert error.value.during_print and error.value.receipt is receipt
    vprinter.paper = "ok"  # the staff loads a new roll
    printer.print_receipt(error.value.receipt).result(timeout=15)
    assert [r.complete for r in vprinter.wait_for_receipts(2)] == [False, True]


def test_the_printer_gone_mid_receipt_is_a_disconnect_that_keeps_the_receipt(
    printer, vprinter, receipt
):
    printer.status()  # connected
    vprinter.vanish_after(300)  # cable pulled, or the network printer switched off (RST)
    with pytest.raises(PrinterDisconnected) as error:
        printer.print_receipt(receipt).result(timeout=15)
    assert error.value.receipt is receipt


def test_a_printer_back_after_a_disconnect_prints_again(printer, vprinter, receipt, tmp_path, kind):
    printer.status()
    vprinter.vanish()
    with pytest.raises(PrinterDisconnected) as error:
        printer.print_receipt(receipt).result(timeout=15)
    assert not error.value.during_print  # nothing was sent
    with VirtualPrinter(tmp_path / "again", link=vprinter.link) as back:
        # the same printer comes back (on a new pty or port: a pty path cannot be reused)
        printer.transport = open_transport(kind, back.port)
        printer.print_receipt(error.value.receipt).result(timeout=15)
        assert back.wait_for_receipts(1)[0].complete


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_network_printer_refusing_the_connection_is_a_disconnect(receipt):
    address = f"127.0.0.1:{_closed_port()}"
    with driver("network", address) as printer:
        with pytest.raises(PrinterDisconnected) as error:
            printer.print_receipt(receipt).result(timeout=15)
    assert address in str(error.value) and not error.value.during_print
    assert error.value.receipt is receipt


def test_a_usb_printer_device_that_does_not_exist_is_a_disconnect(tmp_path, receipt):
    with driver("usb", str(tmp_path / "lp0")) as printer:
        with pytest.raises(PrinterDisconnected) as error:
            printer.print_receipt(receipt).result(timeout=15)
    assert "lp0" in str(error.value)


def test_an_unknown_transport_is_refused_by_name():
    with pytest.raises(ValueError, match="serial, usb|'serial', 'usb'"):
        open_transport("bluetooth", "/dev/rfcomm0")
