"""The virtual printer's reading of the ESC/POS stream: bytes in, printed receipts out.

No pty, no threads, no files: :class:`EscPosParser` is fed the bytes a driver sends and
does what a Japanese printer with Kanji mode does with them. Text lines are decoded
from Shift_JIS (or the half-width katakana table) with their emphasis, size and
justification; ``GS ( k`` QR codes keep their payload; ``GS v 0`` bands stack into
images; a cut ends a :class:`PrintedReceipt`. :meth:`EscPosParser.feed` returns what
the printer answers: ``DLE EOT n`` at once, wherever those bytes are (even inside image
data, as a real printer does), from the state set on the parser (paper ok / near end
/ out, cover open, offline), and ``GS r 1`` once everything before it was printed::

    >>> parser = EscPosParser(columns=42)
    >>> parser.feed(escpos.INITIALIZE + b"ABC\\n" + escpos.feed_and_partial_cut())
    b''
    >>> parser.receipts[0].text, parser.receipts[0].complete
    (['ABC'], True)
    >>> parser.paper = "near_end"
    >>> parser.feed(escpos.TRANSMIT_PAPER_STATUS).hex()
    '03'

While not online (paper out, cover open, offline) it keeps parsing and answering
``DLE EOT``, but prints nothing and leaves ``GS r`` unanswered: data sent meanwhile is
lost, as the driver must assume.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

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
    dots: int = field(default=0, compare=False)  # width on paper, from the bytes received


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
    png: Path | None = None  # the picture, once the virtual printer saved one

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
    international: int = 0  # ESC R n (ESC @ restores the printer's default)


# What the Japan international set (ESC R 8) prints for the two ASCII codes it changes.
JAPAN_SET = {0x5C: "¥", 0x7E: "‾"}


def _is_sjis_lead(byte: int) -> bool:
    return 0x81 <= byte <= 0x9F or 0xE0 <= byte <= 0xFC


class EscPosParser:
    """A printer's interpretation of the byte stream, and its answers. No I/O.

    ``on_receipt(receipt)`` is called as each receipt is torn off, before it joins
    ``receipts`` (the virtual printer saves its picture there). ``international`` is
    the character set ``ESC @`` restores (``ESC R n``): the Japan set (8) by default,
    as on Japanese models, so ``\\`` prints as ¥ and ``~`` as ‾ until ``ESC R 0``.
    ``dots`` is the printable width that ``ESC a`` centres raster bands on (a profile's
    ``dots_per_line``); by default the columns' width.
    """

    def __init__(
        self,
        columns: int = 42,
        on_receipt: Callable[[PrintedReceipt], None] | None = None,
        international: int = escpos.INTERNATIONAL_JAPAN,
        dots: int | None = None,
    ) -> None:
        self.columns = columns
        self.dots = dots  # printable width (512 on a TM-T88VI); None: columns x 12
        self.default_international = international
        self.on_receipt = on_receipt
        self.receipts: list[PrintedReceipt] = []
        self.unknown_commands: list[bytes] = []
        self._paper = "ok"
        self.cover_open = False
        self.offline = False
        self._modes = _Modes(international=international)
        self._line = bytearray()
        self._line_modes: _Modes | None = None
        self._current = PrintedReceipt()
        self._buffer = bytearray()
        self._recent = b""
        self._answers = bytearray()

    # --- the state the status answers come from ---------------------------------------

    @property
    def paper(self) -> str:
        return self._paper

    @paper.setter
    def paper(self, value: str) -> None:
        if value not in PAPER_STATES:
            raise ValueError(f"paper must be one of {PAPER_STATES}, got {value!r}")
        self._paper = value

    @property
    def online(self) -> bool:
        return not (self.offline or self.cover_open or self._paper == "out")

    def paper_runs_out(self) -> None:
        """The paper ends here: what is on paper so far is torn off, cut short."""
        self._paper = "out"
        self._stop_printing()

    def cover_opens(self) -> None:
        """The cover opens here: what is on paper so far is torn off, cut short."""
        self.cover_open = True
        self._stop_printing()

    # --- bytes in, answers out ----------------------------------------------------------

    def feed(self, data: bytes) -> bytes:
        """Take the next bytes of the stream; returns what the printer sends back."""
        return self.answer_realtime(data) + self.parse(data)

    def answer_realtime(self, data: bytes) -> bytes:
        """The answers to ``DLE EOT n`` in ``data``, as the bytes arrive and wherever they
        are: even inside image data (the reason Epson warns about such byte sequences)."""
        answers = bytearray()
        window = self._recent + data
        for match in _REALTIME_STATUS.finditer(window):
            if match.end() > len(self._recent):
                answers.append(self._realtime_status(StatusKind(match.group(1)[0])))
        self._recent = window[-2:]
        return bytes(answers)

    def parse(self, data: bytes) -> bytes:
        """Carry out the commands in ``data`` (an incomplete one waits for more bytes);
        returns the in-order answers (``GS r``)."""
        self._buffer += data
        while self._buffer:
            used = self._command(self._buffer)
            if used == 0:
                break
            del self._buffer[:used]
        answers, self._answers = bytes(self._answers), bytearray()
        return answers

    def _stop_printing(self) -> None:
        self._line.clear()
        if self._current.items:
            self._finish_receipt(complete=False)

    # --- commands ------------------------------------------------------------------------

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
            self._modes = _Modes(international=self.default_international)
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
        elif command == b"R":
            self._modes.international = n
        elif command == b"d":
            for _ in range(n):
                self._end_line()
        elif command not in (b"!", b"-", b"3", b"M", b"G", b"J"):
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
                self._answers.append(self._transmit_status())
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

    # --- what gets printed ---------------------------------------------------------------

    def _set_mode(self, **changes: object) -> None:
        for name, value in changes.items():
            setattr(self._modes, name, value)

    def _add_text(self, byte: int) -> None:
        if not self._line:
            self._line_modes = _Modes(**vars(self._modes))
        self._line.append(byte)

    def _decode_line(self) -> list[tuple[str, int]]:
        """The line's characters, each with the columns the printer gives it: one per
        single byte, two per two-byte Kanji code."""
        modes = self._line_modes or self._modes
        chars: list[tuple[str, int]] = []
        line, i = bytes(self._line), 0
        while i < len(line):
            byte = line[i]
            if modes.kanji and _is_sjis_lead(byte) and i + 1 < len(line):
                chars.append((line[i : i + 2].decode("shift_jis", errors="replace"), 2))
                i += 2
                continue
            if byte < 0x80:
                japan = modes.international == escpos.INTERNATIONAL_JAPAN
                chars.append((JAPAN_SET.get(byte, chr(byte)) if japan else chr(byte), 1))
            elif (modes.kanji or modes.katakana_table) and 0xA1 <= byte <= 0xDF:
                chars.append((chr(0xFF61 + byte - 0xA1), 1))
            else:
                chars.append(("?", 1))
            i += 1
        return chars

    def _printer_lines(self, chars: list[tuple[str, int]], scale: int) -> list[tuple[str, int]]:
        """The line as the printer puts it on paper, (text, dots) per printed line: text
        wider than the printable width wraps where the printer wraps it, mid-word."""
        paper = self.dots or self.columns * escpos.DOTS_PER_COLUMN
        lines, text, dots = [], "", 0
        for ch, columns in chars:
            width = columns * escpos.DOTS_PER_COLUMN * scale
            if text and dots + width > paper:
                lines.append((text, dots))
                text, dots = "", 0
            text, dots = text + ch, dots + width
        return lines + [(text, dots)]

    def _end_line(self) -> None:
        if self.online:
            modes = self._line_modes or self._modes
            scale = 2 if modes.double_width else 1
            for text, dots in self._printer_lines(self._decode_line(), scale):
                self._current.items.append(
                    PrintedText(
                        text,
                        modes.bold,
                        modes.double_width,
                        modes.double_height,
                        modes.align,
                        dots=dots,
                    )
                )
        self._line.clear()
        self._line_modes = None

    def _end_pending_line(self) -> None:
        if self._line:
            self._end_line()

    def _add_image(self, band: Image.Image) -> None:
        """Stack a GS v 0 band under the previous one, placed on the paper's width as the
        justification in force says (``ESC a`` applies to raster images too)."""
        items = self._current.items
        paper = max(self.dots or self.columns * escpos.DOTS_PER_COLUMN, band.width)
        free = paper - band.width
        x = {Align.LEFT: 0, Align.CENTER: free // 2, Align.RIGHT: free}[self._modes.align]
        above = items[-1].image if items and isinstance(items[-1], PrintedImage) else None
        if above is None:
            self._end_pending_line()
        height = band.height + (above.height if above else 0)
        merged = Image.new("L", (max(paper, above.width if above else 0), height), 255)
        if above is not None:
            merged.paste(above, (0, 0))
            items.pop()
        merged.paste(band, (x, height - band.height))
        items.append(PrintedImage(merged))

    def _finish_receipt(self, complete: bool) -> None:
        receipt, self._current = self._current, PrintedReceipt()
        receipt.complete = complete
        if self.on_receipt is not None:
            self.on_receipt(receipt)
        self.receipts.append(receipt)

    # --- status answers ------------------------------------------------------------------

    def _realtime_status(self, kind: StatusKind) -> int:
        status = escpos.STATUS_FIXED_BITS
        if kind is StatusKind.PRINTER and not self.online:
            status |= escpos.PRINTER_OFFLINE
        elif kind is StatusKind.OFFLINE_CAUSE:
            if self.cover_open:
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
