"""The virtual receipt printer, run by hand: ``mynapoint-vprinter``.

    mynapoint-vprinter --out /tmp/receipts --link /tmp/mynapoint-printer

prints the pty's path, then each receipt as it is cut (its PNG path and text lines),
until Ctrl-C or SIGTERM. Point the kiosk's printer port at the ``--link`` path (serial,
or usb: the pty stands in for ``/dev/usb/lp0``). ``--tcp 9100`` listens on loopback TCP
instead, as a network printer (``transport = "network"``, ``host = "127.0.0.1:9100"``;
``--tcp 0`` picks a free port).
"""

from __future__ import annotations

import argparse
import signal
import threading
from pathlib import Path

from sim.printer.parser import PAPER_STATES
from sim.printer.pty import VirtualPrinter


def main(argv: list[str] | None = None) -> int:
    """``mynapoint-vprinter``: run the virtual printer until Ctrl-C, logging each receipt."""
    parser = argparse.ArgumentParser(description="Virtual ESC/POS receipt printer on a pty")
    parser.add_argument("--out", default="vprinter-receipts", help="folder for receipt PNG/TXT")
    parser.add_argument("--columns", type=int, default=42, help="paper width in columns")
    parser.add_argument("--link", help="also make this path a symlink to the pty (stable name)")
    parser.add_argument("--paper", choices=PAPER_STATES, default="ok")
    parser.add_argument("--cover-open", action="store_true")
    parser.add_argument("--offline", action="store_true")
    parser.add_argument("--tcp", type=int, metavar="PORT", help="listen on 127.0.0.1:PORT")
    args = parser.parse_args(argv)
    if args.tcp is not None and args.link:
        parser.error("--link names a pty; a TCP printer is reached by its address")

    link_kind = "pty" if args.tcp is None else "tcp"
    printer = VirtualPrinter(args.out, columns=args.columns, link=link_kind, tcp_port=args.tcp or 0)
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
