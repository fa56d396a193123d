"""The virtual receipt printer: an ESC/POS printer on a pseudo-terminal.

It is the demo's printer and the tests' printer. ``start()`` opens a pty and returns
the slave's path (``/dev/pts/N``), which the driver opens as its serial port. On the
master side it parses the ESC/POS stream the way a Japanese printer with Kanji mode
would: text lines decoded from Shift_JIS with their style and justification, native
QR codes (the payload as data), raster images (``GS v 0``) and cuts. Each cut ends a
receipt, which is rendered to ``out_dir/receipt-NNNN.png`` (and ``.txt``).

It answers real-time status queries (``DLE EOT 1..4``) from a state you set (paper
ok / near end / out, cover open, offline) and ``GS r 1`` once everything before it
was printed. ``run_out_of_paper_after(n)`` makes the paper end ``n`` bytes later, in
the middle of a receipt; ``vanish()`` (or ``vanish_after(n)``) makes the port
disappear, like a pulled cable.

While it is not online (paper out, cover open, offline), it keeps parsing the stream
and answering ``DLE EOT``, but prints nothing and leaves ``GS r`` unanswered: data
sent meanwhile is lost, as the driver must assume. Run it by hand::

    mynapoint-vprinter --out /tmp/receipts --link /tmp/mynapoint-printer
"""

from __future__ import annotations

import argparse
import os
import re
import select
import signal
import threading
import time
import tty
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image, ImageDraw

from drivers import escpos
from drivers.escpos import Align, StatusKind

PAPER_STATES = ("ok", "near_end", "out")
_REALTIME_STATUS = re.compile(re.escape(escpos.DLE + escpos.EOT) + b"([\x01-\x04])")


@dataclass(frozen=True)
class PrintedText:
    text: str
    bold: bool = False
    double_width: bool = False
    double_height: bool = False
    align: Align = Align.LEFT


@dataclass(frozen=True)
class PrintedQR:
    payload: str
    module_dots: int = 3
    error_correction: str = "L"


@dataclass
class PrintedImage:
    image: Image.Image  # mode "L", printed dots black


@dataclass(frozen=True)
class PrintedCut:
    partial: bool = True


PrintedItem = PrintedText | PrintedQR | PrintedImage | PrintedCut


@dataclass
class PrintedReceipt:
    """What came out of the printer between two cuts (``complete`` once it was cut)."""

    items: list[PrintedItem] = field(default_factory=list)
    complete: bool = False
    png: Path | None = None

    @property
    def lines(self) -> list[PrintedText]:
        return [item for item in self.items if isinstance(item, PrintedText)]

    @property
    def text(self) -> list[str]:
        return [line.text for line in self.lines]

    @property
    def qr_payloads(self) -> list[str]:
        return [item.payload for item in self.items if isinstance(item, PrintedQR)]

    @property
    def images(self) -> list[Image.Image]:
        return [item.image for item in self.items if isinstance(item, PrintedImage)]


@dataclass
class _Modes:
    """The printer's modes, as ESC @ leaves them."""

    bold: bool = False
    double_width: bool = False
    double_height: bool = False
    align: Align = Align.LEFT
    kanji: bool = False
    katakana_table: bool = False
    qr_module: int = 3
    qr_ec: str = "L"
    qr_data: bytes = b""


class VirtualPrinter:
    """A printer on a pty: ``start()`` gives the port path, ``receipts`` what it printed."""

    def __init__(self, out_dir: str | os.PathLike[str], columns: int = 42) -> None:
        self.out_dir = Path(out_dir)
        self.columns = columns
        self.receipts: list[PrintedReceipt] = []
        self.unknown_commands: list[bytes] = []
        self.bytes_received = 0
        self._paper = "ok"
        self._cover_open = False
        self._offline = False
        self._event: tuple[int, Callable[[], None]] | None = None  # (bytes left, what)
        self._modes = _Modes()
        self._line = bytearray()
        self._line_modes: _Modes | None = None
        self._current = PrintedReceipt()
        self._buffer = bytearray()
        self._recent = b""
        self._master: int | None = None
        self._slave: int | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._changed = threading.Condition()
        self.port: str | None = None

    # --- life cycle ---------------------------------------------------------------------

    def start(self) -> str:
        """Open the pty and start answering; returns the path the driver opens."""
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)  # no echo, no CR/LF mapping, no flow-control bytes eaten
        self.port = os.ttyname(self._slave)
        self._stop.clear()
        self._thread = threading.Thread(target=self._serve, name="vprinter", daemon=True)
        self._thread.start()
        return self.port

    def stop(self) -> None:
        """Stop answering and close the pty (idempotent)."""
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

    def vanish(self) -> None:
        """The port disappears, as when the USB-serial cable is pulled."""
        self.stop()

    def __enter__(self) -> VirtualPrinter:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- the state the status answers come from -----------------------------------------

    @property
    def paper(self) -> str:
        return self._paper

    @paper.setter
    def paper(self, value: str) -> None:
        if value not in PAPER_STATES:
            raise ValueError(f"paper must be one of {PAPER_STATES}, got {value!r}")
        with self._changed:
            self._paper = value

    @property
    def cover_open(self) -> bool:
        return self._cover_open

    @cover_open.setter
    def cover_open(self, value: bool) -> None:
        with self._changed:
            self._cover_open = bool(value)

    @property
    def offline(self) -> bool:
        return self._offline

    @offline.setter
    def offline(self, value: bool) -> None:
        with self._changed:
            self._offline = bool(value)

    @property
    def online(self) -> bool:
        return not (self._offline or self._cover_open or self._paper == "out")

    def run_out_of_paper_after(self, n_bytes: int) -> None:
        """The paper ends once ``n_bytes`` more bytes have arrived."""
        with self._changed:
            self._event = (n_bytes, self._paper_runs_out)

    def open_cover_after(self, n_bytes: int) -> None:
        """The cover opens once ``n_bytes`` more bytes have arrived."""
        with self._changed:
            self._event = (n_bytes, self._cover_opens)

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
            return list(self.receipts)

    # --- the serving thread --------------------------------------------------------------

    def _serve(self) -> None:
        master = self._master
        while not self._stop.is_set() and master is not None:
            try:
                ready, _, _ = select.select([master], [], [], 0.05)
                if not ready:
                    continue
                data = os.read(master, 65536)
            except OSError:
                return
            if data:
                self._receive(data)

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
            if self._master is not None:
                self._take(data)
            self._changed.notify_all()

    def _take(self, data: bytes) -> None:
        self._answer_realtime(data)
        self._parse(data)

    def _answer_realtime(self, data: bytes) -> None:
        """Like a real printer, answer DLE EOT n as the bytes arrive, wherever they are:
        even inside image data (the reason Epson warns about such byte sequences)."""
        window = self._recent + data
        for match in _REALTIME_STATUS.finditer(window):
            if match.end() > len(self._recent):
                self._answer(self._realtime_status(StatusKind(match.group(1)[0])))
        self._recent = window[-2:]

    def _paper_runs_out(self) -> None:
        self._paper = "out"
        self._stop_printing()

    def _cover_opens(self) -> None:
        self._cover_open = True
        self._stop_printing()

    def _stop_printing(self) -> None:
        """What is on paper so far is torn off as a receipt cut short."""
        self._line.clear()
        if self._current.items:
            self._finish_receipt(complete=False)

    def _answer(self, byte: int) -> None:
        if self._master is not None:
            try:
                os.write(self._master, bytes([byte]))
            except OSError:
                pass

    # --- parsing --------------------------------------------------------------------------

    def _parse(self, data: bytes) -> None:
        self._buffer += data
        while self._buffer:
            used = self._command(self._buffer)
            if used == 0:
                return  # an incomplete command: wait for more bytes
            del self._buffer[:used]

    def _command(self, buf: bytearray) -> int:
        """Handle the command at the start of ``buf``; the bytes used, 0 if incomplete."""
        first = buf[0]
        if first == escpos.LF[0]:
            self._end_line()
            return 1
        if first == escpos.DLE[0]:
            return self._dle(buf)
        if first == escpos.ESC[0]:
            return self._esc(buf)
        if first == escpos.FS[0]:
            return self._fs(buf)
        if first == escpos.GS[0]:
            return self._gs(buf)
        if first < 0x20:
            if first != 0x0D:
                self.unknown_commands.append(bytes([first]))
            return 1
        self._add_text(first)
        return 1

    def _dle(self, buf: bytearray) -> int:
        if len(buf) < 3:
            return 0
        if not (buf[1] == escpos.EOT[0] and 1 <= buf[2] <= len(StatusKind)):
            self.unknown_commands.append(bytes(buf[:3]))
        return 3

    def _esc(self, buf: bytearray) -> int:
        if len(buf) < 2:
            return 0
        command = buf[1:2]
        if command == b"@":
            self._modes = _Modes()
            self._line.clear()
            return 2
        if command == b"2":
            return 2
        if len(buf) < 3:
            return 0
        n = buf[2]
        if command == b"E":
            self._set_mode(bold=bool(n & 1))
        elif command == b"a":
            self._set_mode(align=Align(n % 48 if n >= 48 else n))
        elif command == b"t":
            self._modes.katakana_table = n == 1
        elif command == b"d":
            for _ in range(n):
                self._end_line()
        elif command not in (b"!", b"-", b"3", b"M", b"G", b"R", b"J"):
            self.unknown_commands.append(bytes(buf[:3]))
        return 3

    def _fs(self, buf: bytearray) -> int:
        if len(buf) < 2:
            return 0
        command = buf[1:2]
        if command in (b"&", b"."):
            self._modes.kanji = command == b"&"
            return 2
        if len(buf) < 3:
            return 0
        if command not in (b"C", b"!"):
            self.unknown_commands.append(bytes(buf[:3]))
        return 3

    def _gs(self, buf: bytearray) -> int:
        if len(buf) < 3:
            return 0
        command, n = buf[1:2], buf[2]
        if command == b"!":
            self._set_mode(double_width=bool(n & 0x70), double_height=bool(n & 0x07))
            return 3
        if command == b"r":
            if self.online and n in (1, 49):
                self._answer(self._transmit_status())
            return 3
        if command == b"V":
            return self._cut(buf)
        if command == b"v":
            return self._raster(buf)
        if command == b"(":
            return self._function(buf)
        self.unknown_commands.append(bytes(buf[:3]))
        return 3

    def _cut(self, buf: bytearray) -> int:
        m = buf[2]
        length = 4 if m in (65, 66) else 3
        if len(buf) < length:
            return 0
        if self.online:
            self._end_pending_line()
            self._current.items.append(PrintedCut(partial=m in (1, 49, 66)))
            self._finish_receipt(complete=True)
        return length

    def _raster(self, buf: bytearray) -> int:
        if len(buf) < 8:
            return 0
        width_bytes = int.from_bytes(buf[4:6], "little")
        rows = int.from_bytes(buf[6:8], "little")
        length = 8 + width_bytes * rows
        if len(buf) < length:
            return 0
        if self.online:
            band = escpos.bitmap_from_raster(width_bytes, rows, bytes(buf[8:length]))
            self._add_image(band)
        return length

    def _function(self, buf: bytearray) -> int:
        if len(buf) < 5:
            return 0
        length = 5 + int.from_bytes(buf[3:5], "little")
        if len(buf) < length:
            return 0
        if buf[2:3] == b"k" and buf[5] == escpos.QR_CN:
            self._qr(buf[6], bytes(buf[7:length]))
        else:
            self.unknown_commands.append(bytes(buf[:6]))
        return length

    def _qr(self, fn: int, params: bytes) -> None:
        modes = self._modes
        if fn == escpos.QR_FN_MODULE_SIZE:
            modes.qr_module = params[0]
        elif fn == escpos.QR_FN_ERROR_CORRECTION:
            levels = {v: k for k, v in escpos.QR_ERROR_CORRECTION.items()}
            modes.qr_ec = levels.get(params[0], "L")
        elif fn == escpos.QR_FN_STORE:
            modes.qr_data = params[1:]
        elif fn == escpos.QR_FN_PRINT and self.online:
            self._end_pending_line()
            payload = modes.qr_data.decode("utf-8", errors="replace")
            self._current.items.append(PrintedQR(payload, modes.qr_module, modes.qr_ec))

    # --- what gets printed -----------------------------------------------------------------

    def _set_mode(self, **changes: object) -> None:
        for name, value in changes.items():
            setattr(self._modes, name, value)

    def _add_text(self, byte: int) -> None:
        if not self._line:
            self._line_modes = _Modes(**vars(self._modes))
        self._line.append(byte)

    def _decode_line(self) -> str:
        modes = self._line_modes or self._modes
        if modes.kanji:
            return bytes(self._line).decode("shift_jis", errors="replace")
        chars = []
        for byte in self._line:
            if byte < 0x80:
                chars.append(chr(byte))
            elif modes.katakana_table and 0xA1 <= byte <= 0xDF:
                chars.append(chr(0xFF61 + byte - 0xA1))
            else:
                chars.append("?")
        return "".join(chars)

    def _end_line(self) -> None:
        if self.online:
            modes = self._line_modes or self._modes
            self._current.items.append(
                PrintedText(
                    self._decode_line(),
                    modes.bold,
                    modes.double_width,
                    modes.double_height,
                    modes.align,
                )
            )
        self._line.clear()
        self._line_modes = None

    def _end_pending_line(self) -> None:
        if self._line:
            self._end_line()

    def _add_image(self, band: Image.Image) -> None:
        """Stack a GS v 0 band under the previous one, left-aligned on the paper's width."""
        items = self._current.items
        paper = max(self.columns * escpos.DOTS_PER_COLUMN, band.width)
        above = items[-1].image if items and isinstance(items[-1], PrintedImage) else None
        if above is None:
            self._end_pending_line()
        height = band.height + (above.height if above else 0)
        merged = Image.new("L", (max(paper, above.width if above else 0), height), 255)
        if above is not None:
            merged.paste(above, (0, 0))
            items.pop()
        merged.paste(band, (0, height - band.height))
        items.append(PrintedImage(merged))

    def _finish_receipt(self, complete: bool) -> None:
        receipt, self._current = self._current, PrintedReceipt()
        receipt.complete = complete
        number = len(self.receipts) + 1
        receipt.png = self.out_dir / f"receipt-{number:04d}.png"
        render_printed(receipt, self.columns).save(receipt.png)
        receipt.png.with_suffix(".txt").write_text("\n".join(receipt.text) + "\n", "utf-8")
        self.receipts.append(receipt)

    # --- status answers ---------------------------------------------------------------------

    def _realtime_status(self, kind: StatusKind) -> int:
        status = escpos.STATUS_FIXED_BITS
        if kind is StatusKind.PRINTER and not self.online:
            status |= escpos.PRINTER_OFFLINE
        elif kind is StatusKind.OFFLINE_CAUSE:
            if self._cover_open:
                status |= escpos.OFFLINE_COVER_OPEN
            if self._paper == "out":
                status |= escpos.OFFLINE_PAPER_END_STOP
        elif kind is StatusKind.PAPER_SENSOR:
            if self._paper in ("near_end", "out"):
                status |= escpos.PAPER_NEAR_END
            if self._paper == "out":
                status |= escpos.PAPER_END
        return status

    def _transmit_status(self) -> int:
        return escpos.TRANSMIT_NEAR_END if self._paper == "near_end" else 0


def render_printed(receipt: PrintedReceipt, columns: int) -> Image.Image:
    """The printed paper as a picture: text in the printer's grid, images, QR codes, cuts."""
    width = columns * escpos.DOTS_PER_COLUMN
    parts: list[Image.Image] = []
    for item in receipt.items:
        if isinstance(item, PrintedText):
            parts.append(
                escpos.draw_text_line(
                    item.text,
                    columns,
                    bold=item.bold,
                    double_width=item.double_width,
                    double_height=item.double_height,
                    align=item.align,
                )
            )
        elif isinstance(item, PrintedImage):
            parts.append(item.image)
        elif isinstance(item, PrintedQR):
            parts.append(
                escpos.qr_image(
                    item.payload.encode("utf-8"), item.module_dots, item.error_correction
                )
            )
        else:
            parts.append(_cut_line(width))
    paper = Image.new("L", (width, max(1, sum(p.height for p in parts))), 255)
    y = 0
    for part in parts:
        paper.paste(part, ((width - part.width) // 2 if part.width < width else 0, y))
        y += part.height
    return paper


def _cut_line(width: int) -> Image.Image:
    line = Image.new("L", (width, escpos.LINE_DOTS), 255)
    draw = ImageDraw.Draw(line)
    for x in range(0, width, 12):
        draw.line((x, escpos.LINE_DOTS // 2, x + 6, escpos.LINE_DOTS // 2), fill=0)
    return line


def main(argv: list[str] | None = None) -> int:
    """``mynapoint-vprinter``: run the virtual printer until Ctrl-C, logging each receipt."""
    parser = argparse.ArgumentParser(description="Virtual ESC/POS receipt printer on a pty")
    parser.add_argument("--out", default="vprinter-receipts", help="folder for receipt PNG/TXT")
    parser.add_argument("--columns", type=int, default=42, help="paper width in columns")
    parser.add_argument("--link", help="also make this path a symlink to the pty (stable name)")
    parser.add_argument("--paper", choices=PAPER_STATES, default="ok")
    parser.add_argument("--cover-open", action="store_true")
    parser.add_argument("--offline", action="store_true")
    args = parser.parse_args(argv)

    printer = VirtualPrinter(args.out, columns=args.columns)
    port = printer.start()
    printer.paper, printer.cover_open, printer.offline = args.paper, args.cover_open, args.offline
    link = Path(args.link) if args.link else None
    if link:
        link.unlink(missing_ok=True)
        link.symlink_to(port)
    print(f"virtual printer on {port}" + (f" ({link})" if link else ""), flush=True)
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    shown = 0
    try:
        while not stopping.wait(0.2):
            for receipt in printer.receipts[shown:]:
                state = "printed" if receipt.complete else "CUT SHORT (paper out)"
                print(f"--- receipt {receipt.png} {state}", *receipt.text, sep="\n", flush=True)
            shown = len(printer.receipts)
    except KeyboardInterrupt:
        pass
    finally:
        printer.stop()
        if link:
            link.unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
