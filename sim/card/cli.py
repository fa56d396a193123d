"""The virtual My Number Card, run from the command line: ``mynapoint-vcard``.

Make a card, then put it into pcscd's vpcd reader and answer it (see docs/card.md)::

    mynapoint-vcard new --pki /tmp/pki --out /tmp/card1 [--expired] [--pin 1234] [--contactless]
    mynapoint-vcard run --card /tmp/card1 --port 35963 [--delay-sign 0.5] [--fault pull@sign]

``run`` signs in 0.5 s by default, like a real card (``--delay-sign 0`` for none).
While it is going, place/remove the card with ``SIGUSR1`` (toggle), by typing
``insert``/``remove``/``toggle``/``status``/``fault MODE``/``quit`` on its stdin, or
through ``--control PATH`` (a Unix socket taking the same one-line commands;
``mynapoint-vcard ctl --control PATH remove``). Fault modes: ``sim/card/faults.py``.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import socket
import sys
import threading
from pathlib import Path

from sim.card.directory import make_card
from sim.card.model import BLOCKED_ENCODINGS
from sim.card.vpcd import VPCD_DEFAULT_PORT, VirtualCard

DESCRIPTION = "The virtual My Number Card: answers like a real one, through a real pcscd."


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="mynapoint-vcard", description=DESCRIPTION)
    sub = parser.add_subparsers(dest="command", required=True)
    new = sub.add_parser("new", help="make a new virtual card from a test PKI")
    new.add_argument("--pki", type=Path, required=True, help="test PKI directory (made if empty)")
    new.add_argument("--out", type=Path, required=True, help="card directory to write")
    new.add_argument("--expired", action="store_true", help="certificate already expired")
    new.add_argument("--pin", default="1234")
    new.add_argument("--generation", default="2023", choices=("2015", "2023"))
    new.add_argument("--blocked-encoding", default="63C0", choices=BLOCKED_ENCODINGS)
    new.add_argument(
        "--get-response", action="store_true", help="announce the signature with 61 00 (T=0)"
    )
    new.add_argument(
        "--signing-password", default="TESTPASS1", help="the signing side's (6-16 letters/digits)"
    )
    new.add_argument(
        "--contactless", action="store_true", help="report the Type B contactless pseudo-ATR"
    )
    run = sub.add_parser("run", help="put the card into the vpcd reader and answer it")
    run.add_argument("--card", type=Path, required=True)
    run.add_argument("--port", type=int, default=VPCD_DEFAULT_PORT)
    run.add_argument("--host", default="127.0.0.1")
    run.add_argument(
        "--delay-sign", type=float, default=0.5, help="seconds per signature (real card: ~0.5)"
    )
    run.add_argument("--delay-read", type=float, default=0.0, help="seconds per READ BINARY")
    run.add_argument("--fault", default=None, help="ACTION@STEP[#N], e.g. pull@sign")
    run.add_argument("--removed", action="store_true", help="start with the card out")
    run.add_argument("--control", type=Path, help="Unix socket taking one-line commands")
    ctl = sub.add_parser("ctl", help="send a command to a running card's control socket")
    ctl.add_argument("--control", type=Path, required=True)
    ctl.add_argument("words", nargs="+", help="insert | remove | toggle | status | fault MODE")
    return parser.parse_args(argv)


def _command(card: VirtualCard, line: str) -> str:
    words = line.split()
    if not words:
        return ""
    verb = words[0]
    if verb == "insert" or (verb == "toggle" and not card.inserted):
        card.insert(wait=0)
    elif verb in ("remove", "toggle"):
        card.remove()
    elif verb == "fault":
        card.set_fault(words[1] if len(words) > 1 and words[1] != "none" else None)
    elif verb != "status":
        return f"unknown command {verb!r}"
    return f"inserted={card.inserted} tries={card.pin_tries_left()}"


def _serve_control(card: VirtualCard, path: Path, stop: threading.Event) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(4)
    server.settimeout(0.2)
    while not stop.is_set():
        try:
            conn, _ = server.accept()
        except TimeoutError:
            continue
        with conn:
            line = conn.makefile().readline()
            conn.sendall((_command(card, line) + "\n").encode())
    server.close()
    path.unlink(missing_ok=True)


def _run(args: argparse.Namespace) -> int:
    delays = {"sign": args.delay_sign, "read": args.delay_read}
    card = VirtualCard(args.card, port=args.port, host=args.host, delays=delays, fault=args.fault)
    card.on_change = lambda what: print(f"vcard: {what}", file=sys.stderr, flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGUSR1, lambda *_: _command(card, "toggle"))
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    if args.control:
        threading.Thread(
            target=_serve_control, args=(card, args.control, stop), daemon=True
        ).start()
    if not args.removed:
        card.insert(wait=0)
    print(f"vcard: ready on {args.host}:{args.port} (SIGUSR1 toggles)", file=sys.stderr, flush=True)

    def read_stdin() -> None:
        for line in sys.stdin:  # at end of input (e.g. /dev/null) the card keeps running
            if line.strip() == "quit":
                stop.set()
                return
            print(_command(card, line), flush=True)

    if sys.stdin is not None:
        threading.Thread(target=read_stdin, daemon=True).start()
    try:
        while not stop.wait(0.2):
            pass
    except KeyboardInterrupt:
        pass
    card.remove()
    return 0


def _ctl(args: argparse.Namespace) -> int:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(str(args.control))
        sock.sendall((" ".join(args.words) + "\n").encode())
        print(sock.makefile().readline().strip())
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    if args.command == "new":
        out = make_card(
            args.pki,
            args.out,
            expired=args.expired,
            pin=args.pin,
            generation=args.generation,
            blocked_encoding=args.blocked_encoding,
            get_response=args.get_response,
            signing_password=args.signing_password,
            contactless=args.contactless,
        )
        print(out)
        return 0
    if args.command == "ctl":
        return _ctl(args)
    return _run(args)


if __name__ == "__main__":
    sys.exit(main())
