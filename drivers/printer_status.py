"""What a receipt printer's status means for a print job, and the errors a person can meet.

Pure (no serial port), so the flow's error table and the fast tests need no pyserial:
the driver is ``drivers/printer.py``, its transports ``drivers/printer_transports.py``.
"""

from __future__ import annotations

from dataclasses import dataclass

from contract.errors import KioskError
from drivers import escpos

MODES = ("kanji", "raster")
TRANSPORTS = ("serial", "usb", "network")  # drivers/printer_transports.py
BITS_PER_BYTE_ON_WIRE = 10  # 8N1: start bit, 8 data bits, stop bit


class PrinterError(KioskError):
    """The printer could not print; ``receipt`` is what was to be printed (show it)."""

    kind = "printer_error"
    retryable = True

    def __init__(self, message: str = "", *, during_print: bool = False) -> None:
        super().__init__(message or self.__doc__ or self.kind)
        self.during_print = during_print
        self.receipt: object | None = None


class PrinterOutOfPaper(PrinterError):
    """No paper (before printing, or it ran out in the middle of the receipt)."""

    kind = "printer_no_paper"


class PrinterCoverOpen(PrinterError):
    """The paper cover is open."""

    kind = "printer_cover_open"


class PrinterOffline(PrinterError):
    """The printer answers but is offline (error, cutter jam, waiting for recovery)."""

    kind = "printer_offline"


class PrinterDisconnected(PrinterError):
    """The printer cannot be reached or has gone away: serial port or USB printer device
    missing or unplugged, network printer refusing or resetting the connection."""

    kind = "printer_disconnected"


class PrinterTimeout(PrinterError):
    """The printer did not answer in time (switched off, wrong port or baud rate)."""

    kind = "printer_timeout"


@dataclass(frozen=True)
class PrinterStatus:
    """The printer's real-time status (``DLE EOT``)."""

    online: bool
    cover_open: bool = False
    paper_out: bool = False
    paper_near_end: bool = False
    error: bool = False

    @classmethod
    def from_bytes(cls, printer: int, offline: int, error: int, paper: int) -> PrinterStatus:
        """From the answers to DLE EOT 1, 2, 3 and 4."""
        return cls(
            online=not printer & escpos.PRINTER_OFFLINE,
            cover_open=bool(offline & escpos.OFFLINE_COVER_OPEN),
            paper_out=bool(paper & escpos.PAPER_END or offline & escpos.OFFLINE_PAPER_END_STOP),
            paper_near_end=bool(paper & escpos.PAPER_NEAR_END),
            error=bool(
                offline & escpos.OFFLINE_ERROR
                or error
                & (
                    escpos.ERROR_AUTOCUTTER
                    | escpos.ERROR_UNRECOVERABLE
                    | escpos.ERROR_AUTO_RECOVERABLE
                )
            ),
        )

    @property
    def problem(self) -> type[PrinterError] | None:
        """The error a print job would meet now, or None when it can print."""
        if self.cover_open:
            return PrinterCoverOpen
        if self.paper_out:
            return PrinterOutOfPaper
        if self.error or not self.online:
            return PrinterOffline
        return None


@dataclass(frozen=True)
class PrintResult:
    mode: str
    bytes_sent: int
    status_after: PrinterStatus

    @property
    def paper_near_end(self) -> bool:
        """Tell the staff to change the roll soon."""
        return self.status_after.paper_near_end


def transmission_seconds(n_bytes: int, baudrate: int) -> float:
    """How long ``n_bytes`` take on the wire at ``baudrate`` (8N1)."""
    return n_bytes * BITS_PER_BYTE_ON_WIRE / baudrate
