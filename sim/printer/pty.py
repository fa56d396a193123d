"""The virtual receipt printer on a pseudo-terminal or a TCP port: the demo's and the
tests' printer.

``start()`` opens a pty and returns the slave's path (``/dev/pts/N``), which the driver
opens as its serial port, or as the stand-in for a USB printer class device
(``/dev/usb/lp0``: a character device read and written with plain ``os.read`` /
``os.write``, as the pty slave is). With ``link="tcp"`` it listens on a loopback port
instead and returns ``"127.0.0.1:PORT"``, as a network printer's raw port 9100. What
arrives goes to the parser (``sim/printer/parser.py``) and its answers go back at once;
each receipt torn off is saved as ``out_dir/receipt-NNNN.png`` and ``.txt``
(``sim/printer/render.py``).

``run_out_of_paper_after(n)`` / ``open_cover_after(n)`` make the paper end or the cover
open ``n`` bytes later, in the middle of a receipt; ``vanish()`` (or
``vanish_after(n)``) makes the port disappear, like a pulled cable (on TCP: the
connection is reset and further connections are refused).
"""

from __future__ import annotations

import os
import select
import socket
import struct
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

from sim.printer.line import raw_pty
from sim.printer.parser import EscPosParser, PrintedReceipt
from sim.printer.render import save_receipt


class _ParserState:
    """A state of the printer, read from its parser and changed between two chunks of
    the stream, never within one."""

    def __init__(self, convert: Callable[[Any], Any] = lambda value: value) -> None:
        self.convert = convert

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, printer: VirtualPrinter | None, owner: type | None = None) -> Any:
        return self if printer is None else getattr(printer.parser, self.name)

    def __set__(self, printer: VirtualPrinter, value: Any) -> None:
        with printer._changed:
            setattr(printer.parser, self.name, self.convert(value))


LINKS = ("pty", "tcp")


class VirtualPrinter:
    """A printer on a pty (or TCP): ``start()`` gives the port, ``receipts`` what it printed."""

    def __init__(
        self,
        out_dir: str | os.PathLike[str],
        columns: int = 42,
        *,
        link: str = "pty",
        international: int | None = None,
        save_pictures: bool = True,
        tcp_port: int = 0,
        dots: int | None = None,
    ) -> None:
        if link not in LINKS:
            raise ValueError(f"link must be one of {LINKS}, got {link!r}")
        self.out_dir = Path(out_dir)
        extra = {} if international is None else {"international": international}
        self.parser = EscPosParser(columns, on_receipt=self._save, dots=dots, **extra)
        self.link = link
        self.tcp_port = tcp_port  # link="tcp": 0 = any free loopback port
        self.save_pictures = save_pictures  # False: no PNG per receipt (benchmarks)
        self._listener: socket.socket | None = None
        self._connection: socket.socket | None = None
        self.bytes_received = 0
        self._event: tuple[int, Callable[[], None]] | None = None  # (bytes left, what)
        self._master: int | None = None
        self._slave: int | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._changed = threading.Condition()
        self.port: str | None = None
        # Pictures are drawn beside the serving thread: a real printer answers DLE EOT
        # while it prints, and a drawing that took seconds on a loaded machine left the
        # kiosk's status polls unanswered (its driver then failed the print).
        self._pictures: list[Future[None]] = []
        self._painter = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vprinter-png")

    # --- life cycle ---------------------------------------------------------------------

    def start(self) -> str:
        """Open the pty and start answering; returns the path the driver opens."""
        self.out_dir.mkdir(parents=True, exist_ok=True)
        if self.link == "tcp":
            self._listener = socket.create_server(("127.0.0.1", self.tcp_port))
            host, port = self._listener.getsockname()[:2]
            self.port = f"{host}:{port}"
        else:
            self._master, self._slave, self.port = raw_pty()
        self._stop.clear()
        self._thread = threading.Thread(target=self._serve, name="vprinter", daemon=True)
        self._thread.start()
        return self.port

    def stop(self) -> None:
        """Stop answering and close the pty (idempotent); the pictures drawn so far are kept."""
        self.wait_for_pictures()
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        self._thread = None
        for fd in (self._master, self._slave):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self._master = self._slave = None
        self._reset_connection()
        if self._listener is not None:
            self._listener.close()
            self._listener = None

    def _reset_connection(self) -> None:
        """Close the TCP connection with a reset (RST), as a printer switched off does."""
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            connection.close()

    def vanish(self) -> None:
        """The port disappears, as when the USB cable is pulled (on TCP: connection reset,
        then refused)."""
        self.stop()

    def __enter__(self) -> VirtualPrinter:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- what it printed, and the state its answers come from ----------------------------

    @property
    def receipts(self) -> list[PrintedReceipt]:
        return self.parser.receipts

    @property
    def unknown_commands(self) -> list[bytes]:
        return self.parser.unknown_commands

    columns = _ParserState()  # paper width in columns (the tests print 42 and 48)
    paper = _ParserState()  # "ok" | "near_end" | "out"
    cover_open = _ParserState(bool)
    offline = _ParserState(bool)

    @property
    def online(self) -> bool:
        return self.parser.online

    def run_out_of_paper_after(self, n_bytes: int) -> None:
        """The paper ends once ``n_bytes`` more bytes have arrived."""
        with self._changed:
            self._event = (n_bytes, self.parser.paper_runs_out)

    def open_cover_after(self, n_bytes: int) -> None:
        """The cover opens once ``n_bytes`` more bytes have arrived."""
        with self._changed:
            self._event = (n_bytes, self.parser.cover_opens)

    def vanish_after(self, n_bytes: int) -> None:
        """The port disappears once ``n_bytes`` more bytes have arrived (cable pulled)."""
        with self._changed:
            self._event = (n_bytes, self.vanish)

    def wait_for_receipts(self, count: int, timeout: float = 5.0) -> list[PrintedReceipt]:
        """Block until ``count`` receipts (complete or cut short) were printed."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(self.receipts) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{len(self.receipts)} of {count} receipts printed")
                self._changed.wait(left)
            printed = list(self.receipts)
        self.wait_for_pictures(max(0.0, deadline - time.monotonic()) + 30.0)
        return printed

    def wait_for_pictures(self, timeout: float = 30.0) -> None:
        """Until every receipt's PNG (``save_pictures``) is written."""
        wait(list(self._pictures), timeout=timeout)

    # --- the serving thread --------------------------------------------------------------

    def _serve(self) -> None:
        while not self._stop.is_set():
            source = self._master if self.link == "pty" else self._connection or self._listener
            if source is None:
                return
            try:
                ready, _, _ = select.select([source], [], [], 0.05)
                if not ready:
                    continue
                if source is self._listener:
                    self._connection, _ = self._listener.accept()
                    continue
                data = (
                    source.recv(65536)
                    if isinstance(source, socket.socket)
                    else os.read(source, 65536)
                )
            except OSError:
                if self.link == "pty":
                    return
                self._connection = None
                continue
            if data:
                self._receive(data)
            elif self.link == "tcp" and self._connection is not None:
                self._connection.close()  # the kiosk hung up: wait for the next connection
                self._connection = None

    def _receive(self, data: bytes) -> None:
        with self._changed:
            self.bytes_received += len(data)
            if self._event is not None and self._event[0] < len(data):
                (left, happen), self._event = self._event, None
                self._take(data[:left])
                happen()
                data = data[left:]
            elif self._event is not None:
                self._event = (self._event[0] - len(data), self._event[1])
            if self._master is not None or self._connection is not None:
                self._take(data)
            self._changed.notify_all()

    def _take(self, data: bytes) -> None:
        self._write(self.parser.answer_realtime(data))  # at reception, before the printing
        self._write(self.parser.parse(data))

    def _write(self, answers: bytes) -> None:
        if not answers:
            return
        try:
            if self._connection is not None:
                self._connection.sendall(answers)
            elif self._master is not None:
                os.write(self._master, answers)
        except OSError:
            pass

    def _save(self, receipt: PrintedReceipt) -> None:
        if not self.save_pictures:
            return
        number = len(self.parser.receipts) + 1
        png = self.out_dir / f"receipt-{number:04d}.png"
        self._pictures.append(
            self._painter.submit(save_receipt, receipt, png, self.parser.columns)
        )
