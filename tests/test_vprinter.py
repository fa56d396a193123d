"""The virtual printer as a product: status answers from its state, its command line."""

import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import serial

from drivers import escpos
from drivers.escpos import StatusKind
from drivers.printer import ReceiptPrinter, open_transport
from kiosk.receipt import layout
from sim.printer.samples import make_receipt_data

pytest_plugins = ["tests.fixtures.printer"]

REPO = Path(__file__).resolve().parents[1]


def ask(port, kind):
    with serial.Serial(port, timeout=1) as s:
        s.write(escpos.realtime_status(kind))
        return s.read(1)[0]


def test_answers_paper_sensor_status_from_its_state(virtual_printer):
    assert ask(virtual_printer.port, StatusKind.PAPER_SENSOR) == 0x12
    virtual_printer.paper = "near_end"
    assert ask(virtual_printer.port, StatusKind.PAPER_SENSOR) == 0x1E
    virtual_printer.paper = "out"
    assert ask(virtual_printer.port, StatusKind.PAPER_SENSOR) == 0x7E


def test_answers_cover_open_as_offline_with_its_cause(virtual_printer):
    virtual_printer.cover_open = True
    assert ask(virtual_printer.port, StatusKind.PRINTER) & escpos.PRINTER_OFFLINE
    assert ask(virtual_printer.port, StatusKind.OFFLINE_CAUSE) & escpos.OFFLINE_COVER_OPEN


def test_prints_nothing_while_offline(virtual_printer):
    virtual_printer.offline = True
    with serial.Serial(virtual_printer.port, timeout=1) as s:
        s.write(escpos.INITIALIZE + b"ABC\n" + escpos.feed_and_partial_cut())
        s.write(escpos.realtime_status(StatusKind.PRINTER))
        s.read(1)
    assert virtual_printer.receipts == []


def test_understands_every_command_the_kiosk_sends(virtual_printer):
    receipt = layout(make_receipt_data())
    for mode in ("kanji", "raster"):
        with ReceiptPrinter(virtual_printer.port, mode=mode) as printer:
            printer.print_receipt(receipt).result(timeout=10)
    virtual_printer.wait_for_receipts(2)
    assert virtual_printer.unknown_commands == []


def read_line(process, timeout=10.0):
    """One line of the process's output, failing instead of hanging if none comes."""
    line, deadline = b"", time.monotonic() + timeout
    while not line.endswith(b"\n"):
        ready, _, _ = select.select([process.stdout], [], [], max(0, deadline - time.monotonic()))
        if not ready:
            raise TimeoutError(f"no output line; got {line!r}")
        byte = os.read(process.stdout.fileno(), 1)
        if not byte:
            break
        line += byte
    return line.decode("utf-8")


@pytest.mark.slow
def test_command_line_prints_the_port_and_each_receipt(tmp_path):
    link = tmp_path / "printer"
    command = [
        sys.executable,
        "-m",
        "sim.printer",
        "--out",
        str(tmp_path),
        "--link",
        str(link),
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, bufsize=0, cwd=REPO)
    try:
        assert read_line(process).startswith("virtual printer on /dev/pts/")
        with ReceiptPrinter(str(link)) as printer:
            printer.print_receipt(layout(make_receipt_data())).result(timeout=10)
        assert read_line(process).startswith("--- receipt ")
        assert read_line(process).strip() == "マイナポイント申込 受付票"
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=10)
    assert (tmp_path / "receipt-0001.png").exists()


@pytest.mark.slow
def test_command_line_listens_on_tcp_as_a_network_printer(tmp_path):
    command = [sys.executable, "-m", "sim.printer", "--out", str(tmp_path), "--tcp", "0"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, bufsize=0, cwd=REPO)
    try:
        first = read_line(process)
        assert first.startswith("virtual printer on 127.0.0.1:")
        address = first.split()[-1]
        with ReceiptPrinter(open_transport("network", address)) as printer:
            printer.print_receipt(layout(make_receipt_data())).result(timeout=10)
        assert read_line(process).startswith("--- receipt ")
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=10)


def test_it_answers_status_while_it_draws_a_receipt(virtual_printer, monkeypatch) -> None:
    """A real printer answers DLE EOT while it prints. The simulator drew each receipt's
    picture on its serving thread, before the job's GS r: on a loaded machine (a slow
    disk, a busy core) the drawing took longer than the kiosk's status timeout and the
    kiosk's driver failed a print that was fine. Here the drawing is held until the print
    is over (an Event, no sleep): the print still succeeds, and the picture comes after."""
    import threading

    import sim.printer.pty as pty

    drawing, may_finish = threading.Event(), threading.Event()
    real_save = pty.save_receipt

    def slow_save(*args):
        drawing.set()
        may_finish.wait(30)
        real_save(*args)

    monkeypatch.setattr(pty, "save_receipt", slow_save)
    with ReceiptPrinter(virtual_printer.port, mode="kanji", status_timeout=1.0) as printer:
        done = printer.print_receipt(layout(make_receipt_data())).result(timeout=20)
        assert drawing.is_set() and done.bytes_sent > 0  # printed while still drawing
        assert printer.status().problem is None
    may_finish.set()
    [printed] = virtual_printer.wait_for_receipts(1)
    assert printed.png.read_bytes().startswith(b"\x89PNG")
