"""The cable between the kiosk and the virtual printer, on which the printer can be kept busy.

A receipt printer answers ``GS r`` ("everything before this is printed") only once the
paper has come out, but answers real-time status (``DLE EOT``) at once, even while it
is still feeding a long receipt. :meth:`PrinterLine.hold` makes the virtual printer
behave so for as long as a test wants: bytes go to the printer at once and its status
answers come back at once, but its "printed" answers wait for :meth:`release`. The
driver meanwhile sees a healthy printer that has not finished yet, and its worker
stays busy with the job, as with a slow printer or a very long receipt::

    printer = VirtualPrinter(out_dir); printer.start()
    line = PrinterLine(printer.port); port = line.start()   # the kiosk opens ``port``
    line.hold()       # the next receipt prints, but is not reported done
    line.release()    # now it is
"""

from __future__ import annotations

import os
import select
import threading
import tty

from drivers import escpos


def raw_pty() -> tuple[int, int, str]:
    """(master, slave, slave's path) of a new pty in raw mode: no echo, no CR/LF mapping,
    no flow-control bytes eaten, as a serial line to a printer."""
    master, slave = os.openpty()
    tty.setraw(slave)
    return master, slave, os.ttyname(slave)


class PrinterLine:
    """A pty pair in front of ``printer_port``; ``start()`` returns the port the kiosk opens."""

    def __init__(self, printer_port: str) -> None:
        self.printer_port = printer_port
        self.port: str | None = None
        self._master: int | None = None
        self._slave: int | None = None
        self._printer: int | None = None
        self._held: bytearray | None = None  # None: not holding
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> str:
        self._printer = os.open(self.printer_port, os.O_RDWR | os.O_NOCTTY)
        self._master, self._slave, self.port = raw_pty()  # the slave stays open: no hangup
        self._stop.clear()
        self._thread = threading.Thread(target=self._relay, name="printer-line", daemon=True)
        self._thread.start()
        return self.port

    def hold(self) -> None:
        """From now on the printer's "printed" answers wait for :meth:`release`."""
        with self._lock:
            if self._held is None:
                self._held = bytearray()

    def release(self) -> None:
        """The printer has finished: the answers held back reach the kiosk now."""
        with self._lock:
            held, self._held = self._held, None
            if held:
                self._write(self._master, bytes(held))

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._thread = None
        for fd in (self._master, self._slave, self._printer):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self._master = self._slave = self._printer = None

    def _relay(self) -> None:
        kiosk, printer = self._master, self._printer
        while not self._stop.is_set() and kiosk is not None and printer is not None:
            try:
                ready, _, _ = select.select([kiosk, printer], [], [], 0.05)
                for fd in ready:
                    data = os.read(fd, 65536)
                    if fd == kiosk:
                        self._write(printer, data)
                    else:
                        self._answer(data)
            except OSError:
                return

    def _answer(self, data: bytes) -> None:
        with self._lock:
            if self._held is None:
                self._write(self._master, data)
                return
            passed = bytearray()
            for byte in data:
                (passed if escpos.is_realtime_status(byte) else self._held).append(byte)
            if passed:
                self._write(self._master, bytes(passed))

    @staticmethod
    def _write(fd: int | None, data: bytes) -> None:
        if fd is not None and data:
            os.write(fd, data)
