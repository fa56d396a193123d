"""The printed paper as a picture: what the virtual printer saves for each receipt.

Text is drawn in the printer's grid (``drivers.escpos.draw_text_line``, the same drawing
raster mode prints), images as they arrived, QR codes from their payload, and a cut as
a dashed line. ``save_receipt`` writes ``receipt-NNNN.png`` and its text as ``.txt``.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from drivers import escpos
from sim.printer.parser import PrintedImage, PrintedQR, PrintedReceipt, PrintedText


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
            parts.append(escpos.draw_cut_mark(width, ink=0))
    paper = Image.new("L", (width, max(1, sum(p.height for p in parts))), 255)
    y = 0
    for part in parts:
        paper.paste(part, ((width - part.width) // 2 if part.width < width else 0, y))
        y += part.height
    return paper


def save_receipt(receipt: PrintedReceipt, png: Path, columns: int) -> None:
    """Write the receipt's picture to ``png`` and its text lines beside it (``.txt``)."""
    render_printed(receipt, columns).save(png)
    png.with_suffix(".txt").write_text("\n".join(receipt.text) + "\n", "utf-8")
    receipt.png = png
