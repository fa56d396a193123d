"""ESC/POS: every byte we send to a receipt printer, and how text becomes those bytes.

One place for the outside world's constants (Epson's ESC/POS command reference,
Japanese models with Kanji mode), as OpenSC keeps its APDUs in one header:

- commands we send (initialize, international set USA, Kanji mode with Shift_JIS,
  emphasis, double size, justification, native QR ``GS ( k``, raster image ``GS v 0``, partial cut),
- status bytes we read (real-time ``DLE EOT n``, in-order ``GS r 1``),
- the character grid (12 x 24 dot cells; a character takes as many as the bytes sent
  for it) and the Shift_JIS encoding used in Kanji mode,
- the bitmap rendering of that grid with Noto Sans Mono CJK, used in raster mode,
  for the on-screen receipt and by the virtual printer.

The status bit meanings were checked against python-escpos 3.1
(``escpos/constants.py``: ``RT_STATUS_*``, ``RT_MASK_*``), which only reads
``DLE EOT 1`` and ``4``; ``2`` and ``3`` follow the Epson reference.
"""

from __future__ import annotations

import shutil
import subprocess
import threading
import unicodedata
from collections.abc import Iterator
from enum import IntEnum
from functools import cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

# --- control characters -----------------------------------------------------------------

LF = b"\n"
ESC = b"\x1b"
GS = b"\x1d"
FS = b"\x1c"
DLE = b"\x10"
EOT = b"\x04"

# --- printer setup -----------------------------------------------------------------------

INITIALIZE = ESC + b"@"  # ESC @: clear the buffer, reset every mode
CHARACTER_TABLE_KATAKANA = ESC + b"t\x01"  # ESC t 1: bytes A1-DF are half-width katakana
KANJI_MODE_ON = FS + b"&"  # FS &: two-byte characters from here on
KANJI_MODE_OFF = FS + b"."  # FS .
KANJI_CODE_SHIFT_JIS = FS + b"C\x01"  # FS C 1: Kanji code system = Shift_JIS
# ESC R n: international character set. ESC @ restores the printer's default, which on
# Japanese models is the Japan set (n = 8): 0x5C prints as ¥ and 0x7E as ‾. Sent after
# every ESC @ so that \ and ~ print as themselves on every printer.
INTERNATIONAL_USA = ESC + b"R\x00"
INTERNATIONAL_JAPAN = 8


class Align(IntEnum):
    """ESC a n: justification of the following lines."""

    LEFT = 0
    CENTER = 1
    RIGHT = 2


def justification(align: Align) -> bytes:
    return ESC + b"a" + bytes([align])


def emphasis(on: bool) -> bytes:
    """ESC E n: emphasized (bold) printing, for ANK and Kanji characters alike."""
    return ESC + b"E" + bytes([1 if on else 0])


SIZE_DOUBLE_WIDTH = 0x10  # GS ! n, bits 4-6: width magnification - 1
SIZE_DOUBLE_HEIGHT = 0x01  # GS ! n, bits 0-2: height magnification - 1


def character_size(double_width: bool, double_height: bool) -> bytes:
    """GS ! n: character size for ANK and Kanji characters."""
    n = (SIZE_DOUBLE_WIDTH if double_width else 0) | (SIZE_DOUBLE_HEIGHT if double_height else 0)
    return GS + b"!" + bytes([n])


def feed_lines(n: int) -> bytes:
    """ESC d n: print the buffer and feed n lines."""
    return ESC + b"d" + bytes([n])


CUT_PARTIAL = 1  # GS V m: m = 1 (or 49) partial cut; 0 (or 48) full cut
CUT_FEED_THEN_PARTIAL = 66  # GS V 66 n: feed to the cutter (+ n dots), then partial cut


def feed_and_partial_cut(extra_dots: int = 0) -> bytes:
    """GS V 66 n: feed the last line past the cutter, then cut leaving a hinge."""
    return GS + b"V" + bytes([CUT_FEED_THEN_PARTIAL, extra_dots])


# --- QR code: GS ( k, cn = 49 ("1", QR Code) ----------------------------------------------

QR_CN = 49
QR_FN_MODEL = 65  # n1 = 49 model 1, 50 model 2
QR_FN_MODULE_SIZE = 67  # n = 1..16 dots per module
QR_FN_ERROR_CORRECTION = 69  # n = 48 L, 49 M, 50 Q, 51 H
QR_FN_STORE = 80  # m = 48, then the data
QR_FN_PRINT = 81  # m = 48
QR_MODEL_2 = 50
QR_ERROR_CORRECTION = {"L": 48, "M": 49, "Q": 50, "H": 51}
QR_MAX_DATA = 7089


def _qr_function(fn: int, params: bytes) -> bytes:
    body = bytes([QR_CN, fn]) + params
    return GS + b"(k" + len(body).to_bytes(2, "little") + body


def qr_code(data: bytes, module_dots: int = 6, error_correction: str = "M") -> bytes:
    """Select model 2, module size and error correction, store ``data``, print the symbol."""
    if not data or len(data) > QR_MAX_DATA:
        raise ValueError(f"QR data must be 1..{QR_MAX_DATA} bytes, got {len(data)}")
    return b"".join(
        (
            _qr_function(QR_FN_MODEL, bytes([QR_MODEL_2, 0])),
            _qr_function(QR_FN_MODULE_SIZE, bytes([module_dots])),
            _qr_function(QR_FN_ERROR_CORRECTION, bytes([QR_ERROR_CORRECTION[error_correction]])),
            _qr_function(QR_FN_STORE, b"\x30" + data),
            _qr_function(QR_FN_PRINT, b"\x30"),
        )
    )


# --- raster bit image: GS v 0 m xL xH yL yH d1...dk --------------------------------------

RASTER_COMMAND = GS + b"v0"
RASTER_NORMAL = 0  # m = 0: 1 dot per bit both ways
RASTER_BAND_ROWS = 240  # rows per GS v 0 command; small enough for every printer's buffer


def raster_image(image: Image.Image) -> bytes:
    """``image`` (any mode; dark pixels print) as GS v 0 commands, left-aligned.

    Each band is only as wide as its ink reaches (white to the right is not sent) and a
    run of white rows is a band one byte wide: the paper advances by exactly the image's
    height, with no feed command whose unit differs between printer models. This sends
    about a third of the bytes of the full-width image."""
    bitmap = to_print_bitmap(image)
    row_bytes = (bitmap.width + 7) // 8
    data = bitmap.tobytes()
    rows = [data[y * row_bytes : (y + 1) * row_bytes] for y in range(bitmap.height)]
    out = bytearray()
    for top, bottom in _bands([len(row.rstrip(b"\0")) for row in rows]):
        width = max(1, max(len(row.rstrip(b"\0")) for row in rows[top:bottom]))
        out += RASTER_COMMAND + bytes([RASTER_NORMAL])
        out += width.to_bytes(2, "little") + (bottom - top).to_bytes(2, "little")
        out += b"".join(row[:width] for row in rows[top:bottom])
    return bytes(out)


def _bands(extents: list[int]) -> Iterator[tuple[int, int]]:
    """Runs of rows that are all white or all inked, at most RASTER_BAND_ROWS long."""
    top = 0
    for y in range(1, len(extents) + 1):
        if (
            y == len(extents)
            or (extents[y] == 0) != (extents[top] == 0)
            or y - top == RASTER_BAND_ROWS
        ):
            yield top, y
            top = y


def to_print_bitmap(image: Image.Image) -> Image.Image:
    """A mode "1" image where bit 1 (white in PIL) means a printed dot, as GS v 0 wants."""
    gray = image.convert("L")
    return gray.point(lambda v: 255 if v < 128 else 0, mode="1")


def bitmap_from_raster(width_bytes: int, rows: int, data: bytes) -> Image.Image:
    """Inverse of one GS v 0 band: a mode "L" image, printed dots black."""
    bits = Image.frombytes("1", (width_bytes * 8, rows), data)
    return bits.convert("L").point(lambda v: 0 if v else 255)


# --- real-time status: DLE EOT n ----------------------------------------------------------


class StatusKind(IntEnum):
    PRINTER = 1
    OFFLINE_CAUSE = 2
    ERROR_CAUSE = 3
    PAPER_SENSOR = 4


def realtime_status(kind: StatusKind) -> bytes:
    """DLE EOT n: answered at once, even while the printer is offline or stopped."""
    return DLE + EOT + bytes([kind])


STATUS_FIXED_MASK = 0x93  # bits 0, 1, 4, 7 of every DLE EOT answer ...
STATUS_FIXED_BITS = 0x12  # ... are 0, 1, 1, 0

PRINTER_OFFLINE = 0x08  # n=1 bit 3
OFFLINE_COVER_OPEN = 0x04  # n=2 bit 2
OFFLINE_FEED_BUTTON = 0x08  # n=2 bit 3
OFFLINE_PAPER_END_STOP = 0x20  # n=2 bit 5: printing stopped because the paper ended
OFFLINE_ERROR = 0x40  # n=2 bit 6
ERROR_AUTOCUTTER = 0x08  # n=3 bit 3
ERROR_UNRECOVERABLE = 0x20  # n=3 bit 5
ERROR_AUTO_RECOVERABLE = 0x40  # n=3 bit 6
PAPER_NEAR_END = 0x0C  # n=4 bits 2-3
PAPER_END = 0x60  # n=4 bits 5-6


def is_realtime_status(byte: int) -> bool:
    return byte & STATUS_FIXED_MASK == STATUS_FIXED_BITS


# --- in-order status: GS r 1, answered only after everything before it was processed ---

TRANSMIT_PAPER_STATUS = GS + b"r\x01"
TRANSMIT_NEAR_END = 0x03  # bits 0-1
TRANSMIT_PAPER_END = 0x0C  # bits 2-3
TRANSMIT_FIXED_MASK = 0x90  # bits 4 and 7 are 0: never mistaken for a DLE EOT answer


def is_transmit_status(byte: int) -> bool:
    return byte & TRANSMIT_FIXED_MASK == 0


# --- the character grid --------------------------------------------------------------------

DOTS_PER_COLUMN = 12  # Font A: 12 x 24 dots; a Kanji is 24 x 24, two columns
GLYPH_DOTS = 24
LINE_DOTS = 30  # default line spacing (ESC 2)
WIDE = frozenset("FWA")  # east_asian_width classes drawn two columns wide (raster only)
VARIATION_SELECTORS = ((0xFE00, 0xFE0F), (0xE0100, 0xE01EF))


def is_combining(ch: str) -> bool:
    """A mark drawn on the character before it (か + ゜, 葛 + an ideographic variation
    selector): it takes no column of its own and never starts a line."""
    code = ord(ch)
    if any(low <= code <= high for low, high in VARIATION_SELECTORS):
        return True
    return unicodedata.category(ch) in ("Mn", "Me")


def clusters(text: str) -> Iterator[str]:
    """``text`` as characters with their combining marks attached (one cell each)."""
    cluster = ""
    for ch in text:
        if cluster and is_combining(ch):
            cluster += ch
            continue
        if cluster:
            yield cluster
        cluster = ch
    if cluster:
        yield cluster


@cache
def cells(ch: str) -> int:
    """Columns one character takes on the printer.

    Counted from the bytes the Kanji-mode encoder sends for it, as the printer counts:
    one byte is one 12-dot column, a two-byte Shift_JIS code is two (so ¥ and − take
    two columns though Unicode calls them narrow). A character Shift_JIS lacks is only
    ever drawn (raster mode): two columns when Unicode calls it wide or ambiguous.
    A combining mark takes none: it is drawn on the character before it."""
    if is_combining(ch):
        return 0
    encoded = kanji_bytes(ch)
    if encoded is not None:
        return len(encoded)
    return 2 if unicodedata.east_asian_width(ch) in WIDE else 1


def text_cells(text: str) -> int:
    return sum(cells(ch) for ch in text)


# --- Shift_JIS for Kanji mode ----------------------------------------------------------------

REPLACEMENT = "〓"  # geta: Japanese typesetting's mark for a character that cannot be set
# Characters Windows (cp932) input produces for which JIS X 0208 has its own code point,
# and the two that Python's shift_jis codec would send as the single bytes 0x5C and 0x7E:
# with the USA set (ESC R 0) those print \ and ~, so ¥ and ‾ go as JIS X 0208's ￥ and ￣.
SJIS_EQUIVALENTS = str.maketrans(
    {
        "～": "〜",
        "－": "−",
        "∥": "‖",
        "￠": "¢",
        "￡": "£",
        "￢": "¬",
        "—": "―",
        "¥": "￥",
        "‾": "￣",
    }
)


def to_sjis_repertoire(text: str) -> str:
    """``text`` with cp932 look-alikes mapped to their JIS X 0208 characters."""
    return text.translate(SJIS_EQUIVALENTS)


@cache
def kanji_bytes(ch: str) -> bytes | None:
    """The bytes Kanji mode sends for ``ch``, or None when Shift_JIS lacks it."""
    try:
        return to_sjis_repertoire(ch).encode("shift_jis")
    except UnicodeEncodeError:
        return None


def sjis_encodable(text: str) -> bool:
    return all(kanji_bytes(ch) is not None for ch in text)


def encode_kanji_text(text: str) -> bytes:
    """Text for Kanji mode; a character Shift_JIS lacks becomes 〓 rather than an error."""
    replacement = REPLACEMENT.encode("shift_jis")
    return b"".join(kanji_bytes(ch) or replacement for ch in text)


# --- drawing the grid (raster mode, the screen, the virtual printer) ----------------------

FONT_PATHS = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",  # Debian fonts-noto-cjk
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",  # Arch, Fedora
    "/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/noto/NotoSansCJK-Regular.ttc",
)
FONT_FACE = "Noto Sans Mono CJK JP"  # half-width Latin exactly one column wide


_FONT_LOCK = threading.RLock()


class FontMissing(FileNotFoundError):
    """No Noto Sans CJK on this machine: install the Debian package fonts-noto-cjk."""


@cache
def cjk_font_path() -> Path:
    """The Noto Sans CJK collection: known paths first, then fontconfig."""
    for candidate in FONT_PATHS:
        if Path(candidate).is_file():
            return Path(candidate)
    fc_match = shutil.which("fc-match")
    if fc_match:
        found = subprocess.run(
            [fc_match, "-f", "%{file}", "Noto Sans CJK JP"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        ).stdout.strip()
        if found and "NotoSansCJK" in found and Path(found).is_file():
            return Path(found)
    raise FontMissing("Noto Sans CJK not found; install fonts-noto-cjk (apt)")


@cache
def cjk_font(size: int = GLYPH_DOTS) -> ImageFont.FreeTypeFont:
    """The Japanese monospaced face of the collection (index found by name, not assumed)."""
    path = cjk_font_path()
    for index in range(10):
        try:
            font = ImageFont.truetype(str(path), size, index=index)
        except OSError:
            break
        if font.getname()[0] == FONT_FACE:
            return font
    return ImageFont.truetype(str(path), size, index=0)


@cache
def _missing_glyph_mask() -> tuple[tuple[int, int], bytes]:
    mask = cjk_font().getmask("\U0010fffd")
    return mask.size, bytes(mask)


@cache
def has_glyph(ch: str) -> bool:
    """True when the font draws ``ch`` (not its .notdef box)."""
    mask = cjk_font().getmask(ch)
    return (mask.size, bytes(mask)) != _missing_glyph_mask()


def drawable_text(text: str) -> str:
    """``text`` with characters the font cannot draw (emoji...) replaced by 〓."""
    return "".join(
        cluster if has_glyph(cluster[0]) else REPLACEMENT for cluster in clusters(text)
    )


def _glyph_positions(text: str) -> Iterator[tuple[int, str, int]]:
    """(column, character with its marks, columns): the marks are shaped with their base
    (raqm applies ideographic variation selectors and places combining marks)."""
    column = 0
    for cluster in clusters(text):
        width = max(cells(cluster[0]), 1)
        yield column, cluster, width
        column += width


def draw_text_line(
    text: str,
    columns: int,
    *,
    bold: bool = False,
    double_width: bool = False,
    double_height: bool = False,
    align: Align = Align.LEFT,
) -> Image.Image:
    """One printed line as a printer draws it: cells of 12 x 24 dots, doubled by pixel."""
    sx, sy = (2 if double_width else 1), (2 if double_height else 1)
    with _FONT_LOCK:  # the UI thread (screen image) and the printer worker share the font
        text = drawable_text(text)
        used = text_cells(text)
        line = Image.new("L", (max(used, 1) * DOTS_PER_COLUMN, LINE_DOTS), 255)
        draw = ImageDraw.Draw(line)
        font = cjk_font()
        middle = GLYPH_DOTS // 2 + (LINE_DOTS - GLYPH_DOTS) // 2
        for column, ch, width in _glyph_positions(text):
            x = column * DOTS_PER_COLUMN + width * DOTS_PER_COLUMN / 2
            draw.text((x, middle), ch, font=font, fill=0, anchor="mm")
            if bold:
                draw.text((x + 1, middle), ch, font=font, fill=0, anchor="mm")
    if sx != 1 or sy != 1:
        line = line.resize((line.width * sx, line.height * sy), Image.Resampling.NEAREST)
    out = Image.new("L", (columns * DOTS_PER_COLUMN, line.height), 255)
    free = out.width - line.width
    offset = {Align.LEFT: 0, Align.CENTER: free // 2, Align.RIGHT: free}[align]
    out.paste(line.crop((0, 0, min(line.width, out.width), line.height)), (max(offset, 0), 0))
    return out


def draw_cut_mark(width: int, ink: int = 0) -> Image.Image:
    """Where the paper is cut, drawn as a dashed line one text line high (``ink``: 0-255)."""
    mark = Image.new("L", (width, LINE_DOTS), 255)
    draw = ImageDraw.Draw(mark)
    for x in range(0, width, 12):
        draw.line((x, LINE_DOTS // 2, x + 6, LINE_DOTS // 2), fill=ink)
    return mark


def qr_image(data: bytes, module_dots: int = 6, error_correction: str = "M") -> Image.Image:
    """The symbol a printer draws for ``qr_code(data, ...)``: mode "L", dark modules black."""
    import qrcode
    import qrcode.constants

    levels = {
        "L": qrcode.constants.ERROR_CORRECT_L,
        "M": qrcode.constants.ERROR_CORRECT_M,
        "Q": qrcode.constants.ERROR_CORRECT_Q,
        "H": qrcode.constants.ERROR_CORRECT_H,
    }
    code = qrcode.QRCode(box_size=module_dots, border=4, error_correction=levels[error_correction])
    code.add_data(data)
    code.make(fit=True)
    return code.make_image().get_image().convert("L")


# --- a line in the person's own language (issue 10) ----------------------------------------
# The receipt is Japanese for the service desk; one short line is added in the session's
# language. Text Shift_JIS can carry goes as text; anything else (Thai, Devanagari,
# Hangul, simplified Hanzi, Latin with accents) is drawn as a raster band in a
# proportional face, shaped by raqm, so Thai marks and Devanagari conjuncts come out right.

#: (first, last) code points of a script, and the Debian fonts-noto-core file it needs
#: (the same files as screens/theme.py SCRIPT_FONTS; drivers never import screens).
SCRIPT_FONT_FILES: dict[str, str] = {
    "thai": "/usr/share/fonts/truetype/noto/NotoSansThai-Regular.ttf",
    "devanagari": "/usr/share/fonts/truetype/noto/NotoSansDevanagari-Regular.ttf",
}
SCRIPT_RANGES: tuple[tuple[int, int, str], ...] = (
    (0x0E00, 0x0E7F, "thai"),
    (0x0900, 0x097F, "devanagari"),
    (0xA8E0, 0xA8FF, "devanagari"),
    (0x1CD0, 0x1CFF, "devanagari"),
)
#: the face of the CJK collection for a language (Hangul, simplified or traditional Hanzi,
#: Latin with Vietnamese marks); others get the proportional JP face.
CJK_FACES = {"ko": "Noto Sans CJK KR", "zh-Hans": "Noto Sans CJK SC", "zh-Hant": "Noto Sans CJK TC"}
CJK_DEFAULT_FACE = "Noto Sans CJK JP"
PERSON_GLYPH_DOTS = 22  # a little smaller than the 24-dot grid: marks above and below fit
PERSON_LINE_DOTS = 36  # rows per drawn line: Thai tone marks and Devanagari matras fit
_SPACE_FOLLOWERS = frozenset("\u200b\u200c\u200d")


def _script(ch: str) -> str | None:
    code = ord(ch)
    for first, last, script in SCRIPT_RANGES:
        if first <= code <= last:
            return script
    return None


def _face(script: str | None, lang: str) -> ImageFont.FreeTypeFont:
    if script is None:
        return _cjk_face(CJK_FACES.get(lang, CJK_DEFAULT_FACE))
    path = SCRIPT_FONT_FILES[script]
    if not Path(path).is_file():
        raise FontMissing(f"{path} not found; install fonts-noto-core (apt)")
    return _truetype(path)


@cache
def _truetype(path: str) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, PERSON_GLYPH_DOTS, layout_engine=ImageFont.Layout.RAQM)


@cache
def _cjk_face(face: str) -> ImageFont.FreeTypeFont:
    path = str(cjk_font_path())
    for index in range(10):
        try:
            font = ImageFont.truetype(
                path, PERSON_GLYPH_DOTS, index=index, layout_engine=ImageFont.Layout.RAQM
            )
        except OSError:
            break
        if font.getname()[0] == face:
            return font
    return ImageFont.truetype(path, PERSON_GLYPH_DOTS, layout_engine=ImageFont.Layout.RAQM)


def _runs(text: str) -> list[tuple[str | None, str]]:
    """``text`` in runs of one script each; spaces and joiners stay in the run before."""
    runs: list[tuple[str | None, str]] = []
    for ch in text:
        script = _script(ch)
        if runs and (script == runs[-1][0] or ch.isspace() or ch in _SPACE_FOLLOWERS):
            runs[-1] = (runs[-1][0], runs[-1][1] + ch)
        else:
            runs.append((script, ch))
    return runs


def _run_width(text: str, lang: str) -> int:
    return int(sum(_face(s, lang).getlength(part) for s, part in _runs(text)) + 0.999)


def _break_word(word: str, width: int, lang: str) -> list[str]:
    """A word wider than the paper (Chinese, Thai phrases) cut between clusters."""
    pieces, piece = [], ""
    for cluster in clusters(word):
        if piece and _run_width(piece + cluster, lang) > width:
            pieces.append(piece)
            piece = ""
        piece += cluster
    return pieces + ([piece] if piece else [])


#: a line may break after these (Chinese and Japanese put no spaces between words)
BREAK_AFTER = frozenset("、。，．！？；：")


def _break_tokens(text: str) -> list[str]:
    """``text`` cut where a line may break: after spaces and after CJK punctuation."""
    tokens, token = [], ""
    for ch in text:
        if token and token[-1].isspace() and not ch.isspace():
            tokens.append(token)
            token = ""
        token += ch
        if ch in BREAK_AFTER:
            tokens.append(token)
            token = ""
    return tokens + ([token] if token else [])


def wrap_person_line(text: str, width: int, lang: str) -> list[str]:
    """``text`` in lines at most ``width`` dots wide, broken at spaces or after CJK
    punctuation where it can be, else between clusters."""
    lines: list[str] = []
    line = ""
    for token in _break_tokens(" ".join(text.split())):
        if _run_width((line + token).rstrip(), lang) <= width:
            line += token
            continue
        if line.strip():
            lines.append(line.rstrip())
        pieces = _break_word(token.rstrip(), width, lang) or [""]
        lines.extend(pieces[:-1])
        line = pieces[-1] + token[len(token.rstrip()) :]
    return lines + ([line.rstrip()] if line.strip() else [])


def draw_person_line(text: str, columns: int, lang: str) -> Image.Image:
    """``text`` drawn as a band ``columns`` wide, PERSON_LINE_DOTS rows per wrapped line,
    each script in its own font. Raises FontMissing when a script's font is absent."""
    width = columns * DOTS_PER_COLUMN
    with _FONT_LOCK:
        for script, _ in _runs(text):
            _face(script, lang)  # a missing font fails before anything is drawn
        lines = wrap_person_line(text, width, lang)
        band = Image.new("L", (width, max(len(lines), 1) * PERSON_LINE_DOTS), 255)
        draw = ImageDraw.Draw(band)
        for row, line in enumerate(lines):
            x, middle = 0.0, row * PERSON_LINE_DOTS + PERSON_LINE_DOTS // 2
            for script, part in _runs(line):
                font = _face(script, lang)
                draw.text((x, middle), part, font=font, fill=0, anchor="lm")
                x += font.getlength(part)
    return band


def person_line_missing_glyphs(text: str, lang: str) -> set[str]:
    """Characters of ``text`` that the fonts ``draw_person_line`` picks cannot draw."""
    missing: set[str] = set()
    with _FONT_LOCK:
        for script, part in _runs(text):
            font = _face(script, lang)
            notdef = font.getmask("\U0010fffd")
            blank = (notdef.size, bytes(notdef))
            for ch in set(part) - set(" \u200b\u200c\u200d"):
                if not is_combining(ch):
                    mask = font.getmask(ch)
                    if (mask.size, bytes(mask)) == blank:
                        missing.add(ch)
    return missing
