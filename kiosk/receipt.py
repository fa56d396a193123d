"""The receipt: what the person takes home as proof, independent of any printer.

``layout(data)`` turns a :class:`ReceiptData` into a :class:`Receipt`, a tuple of
typed blocks (text with a style, rules, feeds, the QR code, the cut); every word
comes from ``kiosk/locales/<lang>/receipt.toml``. The same receipt renders to

- ESC/POS bytes, ``render_escpos(receipt, mode, columns)``: ``"kanji"`` sends text in
  Shift_JIS Kanji mode, ``"raster"`` draws the text as bitmaps (for printers without
  Kanji ROM); the QR code and the cut stay native commands in both;
- an image, ``render_image(receipt)`` (``render_png`` for bytes), that the screen
  shows when the printer cannot print (the receipt's content is never lost with the
  paper).

Text wraps at the printer's columns, each character counted by the bytes Kanji mode
sends for it (two-byte codes such as ¥ and − take two). Characters outside Shift_JIS
(𠮷, ①, 髙, emoji) and combining marks NFC cannot compose (か゚, 葛󠄀) never crash:
a receipt holding one is printed in raster mode even on a Kanji printer, so 𠮷 still
prints as 𠮷; a character the font cannot draw either (emoji) becomes 〓.
``effective_mode`` says which mode a receipt gets.

A session in a language the paper is not printed in (``person_lang``: any but ja and
en) gets one short line in that language near the top (``receipt.person_line``), a
:class:`PersonLine`: sent as text when Shift_JIS carries it, otherwise drawn as one
raster band with the script's own font (``escpos.draw_person_line``), in Kanji mode
too, so the Japanese part prints exactly as before. A missing font drops only that
line, with a warning in the log.

    >>> receipt = layout(data)  # doctest: +SKIP
    >>> escpos = render_escpos(receipt, mode="kanji", columns=42)  # doctest: +SKIP
"""

from __future__ import annotations

import io
import logging
import re
import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from PIL import Image

from contract.errors import KioskError
from contract.units import JST
from drivers import escpos
from drivers.escpos import Align
from kiosk.i18n import LANGUAGES, number, t

STATES = ("accepted", "pending", "rejected")
MODES = ("kanji", "raster")
ID_VISIBLE_TAIL = 4
ID_MASK = "*"
QR_MODULE_DOTS = 6
IMAGE_MARGIN = 24  # dots of white around the on-screen receipt

Mode = Literal["kanji", "raster"]
PERSON_LINE_KEY = "receipt.person_line"

log = logging.getLogger("mynapoint.receipt")


class InvalidReceiptData(KioskError, ValueError):
    """The data for a receipt is incomplete or inconsistent (a bug upstream, not the person)."""

    kind = "receipt_invalid"


@dataclass(frozen=True, kw_only=True)
class ReceiptData:
    """Everything a receipt says (keyword arguments only).

    ``campaign_rule`` is either text already in ``lang`` or a campaign mapping:
    ``{"rate_percent": 25, "cap_points": 5000}`` or ``{"flat_points": 7500}``, worded
    by the receipt catalog. ``service_user_id`` may be the full ID or one already
    masked by ``kiosk.flow.mask_user_id``: the layout masks all but the last 4 either
    way (masking is idempotent)."""

    receipt_no: str
    issued_at: datetime
    kiosk_id: str
    store_name: str
    campaign_rule: str | Mapping[str, Any]
    service_name: str
    service_user_id: str
    state: str
    mykey_id: str | None = None
    status_url: str
    lang: str = "ja"
    legal_representative: bool = False
    #: another procedure than the Mynapoint application (its texts: procedures.<id>.receipt_*)
    procedure: str = ""
    #: the session's language when the paper is printed in another (its one line)
    person_lang: str = ""
    #: points central granted with an accepted procedure (None or 0: no line)
    points: int | None = None

    def __post_init__(self) -> None:
        if self.issued_at.tzinfo is None or self.issued_at.utcoffset() is None:
            raise InvalidReceiptData("issued_at must be timezone-aware")
        if self.state not in STATES:
            raise InvalidReceiptData(f"state must be one of {STATES}, got {self.state!r}")
        if self.lang not in LANGUAGES:
            raise InvalidReceiptData(f"lang must be one of {LANGUAGES}, got {self.lang!r}")
        if self.person_lang and self.person_lang not in LANGUAGES:
            raise InvalidReceiptData(
                f"person_lang must be one of {LANGUAGES}, got {self.person_lang!r}"
            )
        if not self.receipt_no or self.receipt_no not in self.status_url:
            raise InvalidReceiptData("status_url must carry the receipt number")


# --- the layout model ---------------------------------------------------------------------


@dataclass(frozen=True)
class Style:
    bold: bool = False
    double_width: bool = False
    double_height: bool = False

    @property
    def width_scale(self) -> int:
        return 2 if self.double_width else 1


NORMAL = Style()
BOLD = Style(bold=True)
TITLE = Style(bold=True, double_height=True)
HEADING = Style(bold=True, double_width=True, double_height=True)


@dataclass(frozen=True)
class Text:
    text: str
    style: Style = NORMAL
    align: Align = Align.LEFT


@dataclass(frozen=True)
class Rule:
    char: str = "-"


@dataclass(frozen=True)
class Feed:
    lines: int = 1


@dataclass(frozen=True)
class QRCode:
    payload: str


@dataclass(frozen=True)
class Cut:
    pass


@dataclass(frozen=True)
class PersonLine:
    """The short line in the person's own language (``lang``) on a Japanese receipt."""

    text: str
    lang: str

    @property
    def as_text(self) -> bool:
        """True when Kanji mode can send it as characters; else it is drawn."""
        return escpos.sjis_encodable(self.text)


Block = Text | Rule | Feed | QRCode | Cut | PersonLine


@dataclass(frozen=True)
class Line:
    """One printed line after wrapping: at most ``columns`` cells wide."""

    text: str
    style: Style = NORMAL
    align: Align = Align.LEFT


PrintItem = Line | QRCode | Cut | PersonLine


@dataclass(frozen=True)
class Receipt:
    """A laid-out receipt: iterate it for its blocks."""

    receipt_no: str
    lang: str
    blocks: tuple[Block, ...] = field(default_factory=tuple)

    def __iter__(self) -> Iterator[Block]:
        return iter(self.blocks)

    def __len__(self) -> int:
        return len(self.blocks)

    def __getitem__(self, index: int) -> Block:
        return self.blocks[index]

    def to_escpos(self, mode: str, columns: int) -> bytes:
        """What ``drivers.printer.ReceiptPrinter`` calls, so drivers never import kiosk."""
        return render_escpos(self, mode=mode, columns=columns)

    def print_mode(self, requested: str) -> str:
        """The mode this receipt prints in on a ``requested``-mode printer."""
        return effective_mode(self, requested)


# --- from data to layout ----------------------------------------------------------------


def mask_service_user_id(value: str) -> str:
    """All but the last 4 characters hidden (and never more than half of a short ID)."""
    value = value.strip()
    visible = min(ID_VISIBLE_TAIL, len(value) // 2)
    return ID_MASK * (len(value) - visible) + value[len(value) - visible :]


def printable(text: str) -> str:
    """NFC text without control characters, so data can never inject printer commands.

    Combining marks and variation selectors that NFC cannot compose (か + ゜, 葛 +
    U+E0100) stay on their character, so the receipt goes out in raster mode and shows
    them (they are never dropped silently); only a mark with no character to sit on
    (at the start, or after a space) is dropped."""
    text = unicodedata.normalize("NFC", text)
    kept: list[str] = []
    for ch in text:
        category = unicodedata.category(ch)
        if category in ("Cc", "Cf", "Zl", "Zp"):
            kept.append(" ")
        elif escpos.is_combining(ch):
            if kept and not kept[-1].isspace():
                kept.append(ch)
        else:
            kept.append(ch)
    return "".join(kept)


def _campaign_text(rule: str | Mapping[str, Any], lang: str) -> str:
    if isinstance(rule, str):
        return rule
    if "flat_points" in rule:
        return t("receipt.campaign_flat", lang, flat_points=int(rule["flat_points"]))
    try:
        return t(
            "receipt.campaign_rate",
            lang,
            rate_percent=rule["rate_percent"],
            cap_points=int(rule["cap_points"]),
        )
    except KeyError as missing:
        raise InvalidReceiptData(f"campaign rule lacks {missing}") from None


def _header(data: ReceiptData) -> list[Block]:
    lang, issued = data.lang, data.issued_at.astimezone(JST)
    return [
        Text(
            t(
                f"procedures.{data.procedure}.receipt_title" if data.procedure else "receipt.title",
                lang,
            ),
            TITLE,
            Align.CENTER,
        ),
        Text(printable(data.store_name), NORMAL, Align.CENTER),
        *_person_line(data),
        Rule(),
        Text(t("receipt.receipt_no", lang, receipt_no=printable(data.receipt_no))),
        Text(
            t(
                "receipt.issued_at",
                lang,
                year=issued.year,
                month=issued.month,
                day=issued.day,
                hour=issued.hour,
                minute=issued.minute,
            )
        ),
        Text(t("receipt.kiosk", lang, kiosk_id=printable(data.kiosk_id))),
        Rule(),
    ]


def _person_line(data: ReceiptData) -> list[Block]:
    if not data.person_lang or data.person_lang == data.lang:
        return []
    return [PersonLine(printable(t(PERSON_LINE_KEY, data.person_lang)), data.person_lang)]


def _choice(data: ReceiptData) -> list[Block]:
    lang = data.lang
    if data.procedure:  # a signed consent: the procedure, never an ID
        blocks = [
            Text(t("procedures.receipt_heading", lang), BOLD),
            Text(printable(t(f"procedures.{data.procedure}.title", lang))),
        ]
        if data.campaign_rule:
            blocks[:0] = [
                Text(t("receipt.campaign_heading", lang), BOLD),
                Text(printable(_campaign_text(data.campaign_rule, lang))),
            ]
        if data.legal_representative:
            blocks.append(Text(t("receipt.legal_representative", lang)))
        return blocks + [Rule()]
    blocks: list[Block] = [
        Text(t("receipt.campaign_heading", lang), BOLD),
        Text(printable(_campaign_text(data.campaign_rule, lang))),
        Text(t("receipt.service_heading", lang), BOLD),
        Text(printable(data.service_name)),
        Text(
            t(
                "receipt.service_user_id",
                lang,
                masked_id=mask_service_user_id(printable(data.service_user_id)),
            )
        ),
    ]
    if data.legal_representative:
        blocks.append(Text(t("receipt.legal_representative", lang)))
    return blocks + [Rule()]


def _outcome(data: ReceiptData) -> list[Block]:
    lang, state = data.lang, data.state
    blocks: list[Block] = [Text(t(f"receipt.state.{state}.heading", lang), HEADING, Align.CENTER)]
    if state == "accepted" and data.mykey_id:
        blocks.append(
            Text(t("receipt.state.accepted.mykey_id", lang, mykey_id=printable(data.mykey_id)))
        )
    if data.procedure:
        if state == "accepted" and data.points:
            blocks.append(Text(t("procedures.points_granted", lang,
                                 points=number(data.points, lang)), BOLD))
        blocks.append(Text(t(f"procedures.{data.procedure}.receipt_{state}", lang)))
        return blocks
    blocks.append(Text(t(f"receipt.state.{state}.next", lang)))
    if state != "rejected":
        blocks.append(Text(t("receipt.choice_final", lang)))
    return blocks


def _footer(data: ReceiptData) -> list[Block]:
    lang = data.lang
    return [
        Feed(),
        Text(t("receipt.status_url_hint", lang), NORMAL, Align.CENTER),
        QRCode(data.status_url),
        Feed(),
        Rule(),
        Text(t("receipt.take_card", lang), BOLD, Align.CENTER),
        Feed(),
        Cut(),
    ]


def layout(data: ReceiptData) -> Receipt:
    """The receipt for ``data``, in ``data.lang``, printer-independent."""
    blocks = _header(data) + _choice(data) + _outcome(data) + _footer(data)
    return Receipt(receipt_no=data.receipt_no, lang=data.lang, blocks=tuple(blocks))


# --- wrapping -------------------------------------------------------------------------------

_TOKENS = re.compile(r"\s+|\S+")


# Kinsoku (禁則): characters that may not begin a line, and ones that may not end one.
# Half-width katakana too: its (han)dakuten ﾞ ﾟ are characters of their own (ﾍﾟ is two
# bytes, two columns) and must stay with their kana.
NO_LINE_START = frozenset(
    "、。，．,.・：；:;？！?!）」』】〕〉》)]}ーぁぃぅぇぉっゃゅょゎァィゥェォッャュョヮヵヶ々"
    "ﾞﾟ｡､｣･ｰｧｨｩｪｫｬｭｮｯ"
)
NO_LINE_END = frozenset("（「『【〔〈《([{｢")


def _kinsoku_carry(line: str, next_char: str) -> str:
    """The end of ``line`` to move down so that no line starts or ends wrongly (the last
    character moves with its combining marks)."""
    start = len(line) - 1
    while start > 0 and escpos.is_combining(line[start]):
        start -= 1
    if start < 1 or line[start - 1].isspace():
        return ""
    if next_char in NO_LINE_START or line[start] in NO_LINE_END:
        return line[start:]
    return ""


def wrap(text: str, columns: int, scale: int = 1) -> list[str]:
    """Lines of at most ``columns`` cells; words move whole when they fit on a line, and
    closing punctuation never starts a line (the character before it moves down too)."""
    lines: list[str] = []
    line, used = "", 0

    def flush() -> None:
        nonlocal line, used
        lines.append(line.rstrip())
        line, used = "", 0

    for token in _TOKENS.findall(text):
        width = escpos.text_cells(token) * scale
        if token.isspace():
            if used and used + width <= columns:
                line, used = line + token, used + width
            elif used:
                flush()
            continue
        if used + width > columns and used and width <= columns:
            flush()
        for ch in token:
            cw = escpos.cells(ch) * scale
            if used + cw > columns and used:
                carry = _kinsoku_carry(line, ch)
                line = line[: len(line) - len(carry)]
                flush()
                line, used = carry, escpos.text_cells(carry) * scale
            line, used = line + ch, used + cw
    if line or not lines:
        lines.append(line.rstrip())
    return lines


def print_items(receipt: Receipt, columns: int) -> list[PrintItem]:
    """The receipt as a printer of ``columns`` prints it: wrapped lines, QR codes, cuts."""
    items: list[PrintItem] = []
    for block in receipt:
        if isinstance(block, Text):
            for part in wrap(block.text, columns, block.style.width_scale):
                items.append(Line(part, block.style, block.align))
        elif isinstance(block, Rule):
            items.append(Line(block.char * (columns // escpos.text_cells(block.char))))
        elif isinstance(block, Feed):
            items.extend(Line("") for _ in range(block.lines))
        elif isinstance(block, PersonLine) and block.as_text:
            items.extend(Line(part) for part in wrap(block.text, columns))
        else:
            items.append(block)
    return items


# --- ESC/POS --------------------------------------------------------------------------------


def effective_mode(receipt: Receipt, mode: str) -> Mode:
    """``mode``, except that a receipt with text outside Shift_JIS prints in raster."""
    if mode not in MODES:
        raise ValueError(f"print mode must be one of {MODES}, got {mode!r}")
    if mode == "kanji" and all(
        escpos.sjis_encodable(block.text) for block in receipt if isinstance(block, Text)
    ):
        return "kanji"
    return "raster"


def _style_commands(style: Style, align: Align, current: tuple[Style, Align] | None) -> bytes:
    if current == (style, align):
        return b""
    return (
        escpos.justification(align)
        + escpos.emphasis(style.bold)
        + escpos.character_size(style.double_width, style.double_height)
    )


def _qr_bytes(block: QRCode) -> bytes:
    """The QR code centred, then left justification again: ESC a applies to raster
    images too (Epson's reference), and the bands after it are cropped to their ink,
    so a centred band would be centred by its own width and land to the right."""
    return (
        escpos.justification(Align.CENTER)
        + escpos.qr_code(block.payload.encode("utf-8"), QR_MODULE_DOTS)
        + escpos.justification(Align.LEFT)
    )


def person_band(line: PersonLine, columns: int) -> Image.Image | None:
    """The person's line drawn, or None (logged) when its script's font is missing: the
    receipt still prints, only without that line."""
    try:
        return escpos.draw_person_line(line.text, columns, line.lang)
    except escpos.FontMissing as missing:
        log.warning("receipt line in %s not printed: %s", line.lang, missing)
        return None


def _kanji_body(items: list[PrintItem], columns: int) -> bytes:
    out = bytearray(escpos.CHARACTER_TABLE_KATAKANA + escpos.KANJI_CODE_SHIFT_JIS)
    out += escpos.KANJI_MODE_ON
    current: tuple[Style, Align] | None = None
    for item in items:
        if isinstance(item, Line):
            out += _style_commands(item.style, item.align, current)
            current = (item.style, item.align)
            out += escpos.encode_kanji_text(item.text) + escpos.LF
        elif isinstance(item, QRCode):
            out += _qr_bytes(item)
            current = None
        elif isinstance(item, PersonLine):
            band = person_band(item, columns)
            if band is not None:  # GS v 0 prints in Kanji mode too; left as drawn
                out += escpos.justification(Align.LEFT) + escpos.raster_image(band)
                current = None
        else:
            out += escpos.feed_and_partial_cut()
    return bytes(out)


def raster_segments(receipt: Receipt, columns: int) -> list[Image.Image | QRCode | Cut]:
    """Runs of lines drawn as one bitmap each, between the native QR codes and cuts."""
    segments: list[Image.Image | QRCode | Cut] = []
    run: list[Line] = []
    for item in print_items(receipt, columns) + [Cut()]:
        if isinstance(item, Line):
            run.append(item)
            continue
        if run:
            segments.append(_draw_lines(run, columns))
            run = []
        if isinstance(item, PersonLine):
            band = person_band(item, columns)
            if band is not None:
                segments.append(band)
            continue
        segments.append(item)
    segments.pop()  # the sentinel cut
    return segments


def _raster_body(receipt: Receipt, columns: int) -> bytes:
    out = bytearray()
    for segment in raster_segments(receipt, columns):
        if isinstance(segment, Image.Image):
            out += escpos.raster_image(segment)
        elif isinstance(segment, QRCode):
            out += _qr_bytes(segment)
        else:
            out += escpos.feed_and_partial_cut()
    return bytes(out)


def render_escpos(receipt: Receipt, mode: str = "kanji", columns: int = 42) -> bytes:
    """The receipt as ESC/POS bytes for a printer of ``columns`` (42 or 48 on 80 mm paper)."""
    if columns < 24:
        raise ValueError(f"a receipt needs at least 24 columns, got {columns}")
    if effective_mode(receipt, mode) == "kanji":
        body = _kanji_body(print_items(receipt, columns), columns)
    else:
        body = _raster_body(receipt, columns)
    return escpos.INITIALIZE + escpos.INTERNATIONAL_USA + body


# --- image ----------------------------------------------------------------------------------


def _draw_line(line: Line, columns: int) -> Image.Image:
    return escpos.draw_text_line(
        line.text,
        columns,
        bold=line.style.bold,
        double_width=line.style.double_width,
        double_height=line.style.double_height,
        align=line.align,
    )


def _draw_lines(lines: list[Line], columns: int) -> Image.Image:
    drawn = [_draw_line(line, columns) for line in lines]
    image = Image.new("L", (columns * escpos.DOTS_PER_COLUMN, sum(d.height for d in drawn)), 255)
    y = 0
    for part in drawn:
        image.paste(part, (0, y))
        y += part.height
    return image


def render_image(receipt: Receipt, columns: int = 42) -> Image.Image:
    """The receipt as the printer would print it, for the screen (mode "L", white paper)."""
    width = columns * escpos.DOTS_PER_COLUMN
    parts: list[tuple[Image.Image, bool]] = []
    for segment in raster_segments(receipt, columns):
        if isinstance(segment, Image.Image):
            parts.append((segment, False))
        elif isinstance(segment, QRCode):
            symbol = escpos.qr_image(segment.payload.encode("utf-8"), QR_MODULE_DOTS)
            parts.append((symbol, True))
        else:
            parts.append((escpos.draw_cut_mark(width, ink=128), False))
    height = sum(part.height for part, _ in parts) + 2 * IMAGE_MARGIN
    image = Image.new("L", (width + 2 * IMAGE_MARGIN, height), 255)
    y = IMAGE_MARGIN
    for part, centered in parts:
        x = IMAGE_MARGIN + ((width - part.width) // 2 if centered else 0)
        image.paste(part, (x, y))
        y += part.height
    return image


def render_png(receipt: Receipt, columns: int = 42) -> bytes:
    """``render_image`` as PNG bytes (for a Kivy texture or a file)."""
    buffer = io.BytesIO()
    render_image(receipt, columns).save(buffer, format="PNG")
    return buffer.getvalue()
