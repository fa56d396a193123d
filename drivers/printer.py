"""The receipt printer: ESC/POS over a serial port, USB or TCP 9100, on one worker thread.

    >>> printer = ReceiptPrinter("/dev/ttyUSB0", mode="kanji", columns=42)  # doctest: +SKIP
    >>> printer = ReceiptPrinter(open_transport("usb", "/dev/usb/lp0"))  # doctest: +SKIP
    >>> printer = ReceiptPrinter(open_transport("network", "192.0.2.10"))  # doctest: +SKIP
    >>> printer.print_receipt(receipt).result()  # doctest: +SKIP
    PrintResult(mode='kanji', bytes_sent=..., status_after=PrinterStatus(...))

``print_receipt`` returns a ``concurrent.futures.Future`` at once; the job runs on
the printer's single worker thread (the UI thread never waits on the port, two jobs
never interleave). The Future raises one of the typed errors below, each carrying
the receipt it could not print (``error.receipt``) so the screen can show it
instead: a printer problem never loses a receipt.

A job reads the real-time status first (``DLE EOT 1..4``) and refuses to print on a
problem (nothing is sent). Then it sends the receipt followed by ``GS r 1``, which
the printer answers only after it has processed everything before it; while waiting
it polls ``DLE EOT``, so paper running out mid-receipt, a cover opened or the port
vanishing is reported within ``poll_interval``. Paper near its end is a warning in
``PrintResult.status_after``, not an error.

The receipt is anything with ``to_escpos(mode, columns) -> bytes`` (``kiosk.receipt.
Receipt`` has it; drivers do not import kiosk), or raw ESC/POS bytes. The bytes are
the same on every transport (``drivers/printer_transports.py`` only moves them).
"""

from __future__ import annotations

import logging
import termios
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Protocol, TypeVar

from drivers import escpos
from drivers.escpos import StatusKind
from drivers.printer_status import (  # noqa: F401 - the driver's errors, importable here too
    MODES,
    PrinterCoverOpen,
    PrinterDisconnected,
    PrinterError,
    PrinterOffline,
    PrinterOutOfPaper,
    PrinterStatus,
    PrinterTimeout,
    PrintResult,
    transmission_seconds,
)
from drivers.printer_transports import (  # noqa: F401 - importable here too
    SerialTransport,
    Transport,
    WriteTimeout,
    open_transport,
)

log = logging.getLogger(__name__)

T = TypeVar("T")


class Printable(Protocol):
    def to_escpos(self, mode: str, columns: int) -> bytes: ...


class ReceiptPrinter:
    """One ESC/POS printer on a transport (a serial port path: pyserial). Opened lazily,
    reopened after a disconnect."""

    def __init__(
        self,
        port: str | Transport,
        baudrate: int = 115200,
        mode: str = "kanji",
        columns: int = 42,
        *,
        status_timeout: float = 1.0,
        print_timeout: float = 30.0,
        poll_interval: float = 0.25,
        rtscts: bool = False,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        if isinstance(port, str):
            port = SerialTransport(port, baudrate, rtscts)
        self.transport: Transport = port
        self.port, self.baudrate, self.mode, self.columns = port.address, baudrate, mode, columns
        self.status_timeout = status_timeout
        self.print_timeout = print_timeout
        self.poll_interval = poll_interval
        self.rtscts = rtscts
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="printer")
        self._job_done = False
        self._printing = False

    # --- public API --------------------------------------------------------------------

    def status(self) -> PrinterStatus:
        """The real-time status now (blocks for at most a few ``status_timeout``)."""
        return self._worker.submit(self._guarded, self._read_status).result()

    def status_async(self) -> Future[PrinterStatus]:
        return self._worker.submit(self._guarded, self._read_status)

    def print_receipt(self, receipt: Printable | bytes) -> Future[PrintResult]:
        """Queue ``receipt`` on the worker; the Future gives a PrintResult or a PrinterError."""
        return self._worker.submit(self._print_job, receipt)

    def close(self) -> None:
        """Finish queued jobs, then close the port."""
        self._worker.shutdown(wait=True)
        self._close_port()

    def __enter__(self) -> ReceiptPrinter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- on the worker thread ------------------------------------------------------------

    def _print_job(self, receipt: Printable | bytes) -> PrintResult:
        receipt_no = getattr(receipt, "receipt_no", None)
        try:
            data = (
                bytes(receipt)
                if isinstance(receipt, bytes | bytearray)
                else receipt.to_escpos(self.mode, self.columns)
            )
            result = self._guarded(self._print, data, self._mode_used(receipt))
        except PrinterError as error:
            error.receipt = receipt
            log.warning("receipt_not_printed kind=%s receipt_no=%s", error.kind, receipt_no)
            raise
        log.info(
            "receipt_printed receipt_no=%s mode=%s bytes=%d",
            receipt_no,
            result.mode,
            result.bytes_sent,
        )
        return result

    def _mode_used(self, receipt: Printable | bytes) -> str:
        """The mode the receipt is actually printed in (Kanji receipts may fall back)."""
        print_mode = getattr(receipt, "print_mode", None)
        return print_mode(self.mode) if callable(print_mode) else self.mode

    def _guarded(self, action: Callable[..., T], *args: object) -> T:
        """Run ``action``; a failing transport becomes PrinterDisconnected and is closed."""
        try:
            return action(*args)
        except WriteTimeout as exc:
            self._close_port()
            raise PrinterTimeout("write to the printer timed out", during_print=True) from exc
        except (OSError, termios.error) as exc:  # pyserial's SerialException is an OSError
            self._close_port()
            raise PrinterDisconnected(
                f"{self.transport.kind} printer {self.port} failed: {exc}",
                during_print=self._printing,
            ) from exc
        finally:
            self._printing = False

    def _open(self) -> Transport:
        self.transport.open()
        return self.transport

    def _close_port(self) -> None:
        self.transport.close()

    def _query(self, kind: StatusKind) -> int:
        """Send DLE EOT ``kind``, return its answer; note a GS r answer seen meanwhile."""
        port = self._open()
        self._drain_stray_answers(port)
        port.write(escpos.realtime_status(kind), self.status_timeout)
        deadline = time.monotonic() + self.status_timeout
        while (left := deadline - time.monotonic()) > 0:
            answer = port.read(1, left)
            if not answer:
                break
            if escpos.is_realtime_status(answer[0]):
                return answer[0]
            if escpos.is_transmit_status(answer[0]):
                self._job_done = True
        raise PrinterTimeout(f"no answer to DLE EOT {int(kind)}")

    def _drain_stray_answers(self, port: Transport) -> None:
        """Drop answers nobody asked for: a printer answers DLE EOT n wherever those
        bytes occur, image data included. Keep the news of a GS r answer among them."""
        for byte in port.pending():
            if escpos.is_transmit_status(byte):
                self._job_done = True

    def _read_status(self) -> PrinterStatus:
        answers = [self._query(kind) for kind in StatusKind]
        return PrinterStatus.from_bytes(*answers)

    def _raise_on_problem(self, status: PrinterStatus, during_print: bool) -> None:
        problem = status.problem
        if problem is not None:
            raise problem(during_print=during_print)

    def _print(self, data: bytes, mode: str) -> PrintResult:
        port = self._open()
        port.pending()  # answers from before this job mean nothing now
        self._raise_on_problem(self._read_status(), during_print=False)
        self._job_done = False
        self._printing = True  # from here on, part of the receipt may be on paper
        self._send(port, data + escpos.TRANSMIT_PAPER_STATUS)
        self._wait_until_printed(len(data))
        after = self._read_status()
        self._raise_on_problem(after, during_print=True)
        return PrintResult(mode, len(data), after)

    def _send(self, port: Transport, data: bytes) -> None:
        """Write the job; a stalled write (flow control held by a stopped printer) is
        explained by the printer's status when it can still answer."""
        try:
            port.write(data, port.seconds_on_wire(len(data)) * 2 + self.print_timeout)
        except WriteTimeout:
            self._raise_on_problem(self._read_status(), during_print=True)
            raise

    def _wait_until_printed(self, n_bytes: int) -> None:
        """Wait for the GS r answer, polling DLE EOT so a stop is reported at once."""
        port = self._open()
        limit = port.seconds_on_wire(n_bytes) + self.print_timeout
        deadline = time.monotonic() + limit
        while not self._job_done:
            if time.monotonic() > deadline:
                raise PrinterTimeout(f"receipt not printed within {limit:.0f} s", during_print=True)
            answer = port.read(1, self.poll_interval)
            if answer and escpos.is_transmit_status(answer[0]):
                return
            if not answer:  # quiet for a poll interval: ask why
                self._raise_on_problem(self._read_status(), during_print=True)
            # else: a stray DLE EOT answer to bytes inside the job's image data
