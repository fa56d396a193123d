"""The virtual ESC/POS receipt printer.

| module | what |
|---|---|
| ``parser.py`` | the printer's reading of the stream, bytes in: receipts and status answers out |
| ``render.py`` | a printed receipt as a picture (``receipt-NNNN.png``) and its text |
| ``pty.py`` | ``VirtualPrinter``: the printer on a pseudo-terminal, with faults mid-receipt |
| ``cli.py`` | ``mynapoint-vprinter`` (also ``python -m sim.printer``) |
"""

from sim.printer.parser import (
    PAPER_STATES,
    EscPosParser,
    PrintedCut,
    PrintedImage,
    PrintedQR,
    PrintedReceipt,
    PrintedText,
)
from sim.printer.pty import VirtualPrinter
from sim.printer.render import render_printed

__all__ = [
    "PAPER_STATES",
    "EscPosParser",
    "PrintedCut",
    "PrintedImage",
    "PrintedQR",
    "PrintedReceipt",
    "PrintedText",
    "VirtualPrinter",
    "render_printed",
]
