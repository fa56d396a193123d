"""The virtual card in a reader: a client of pcscd's ``vsmartcard-vpcd`` driver.

The vpcd socket protocol: a 2-byte big-endian length, then a payload; a 1-byte payload
is a control (0 power off, 1 power on, 2 reset, 4 get ATR), anything longer a command
APDU, answered the same way. Connecting is "card placed", closing the socket "card
removed". While it is "in the reader" the card keeps trying to connect, so it comes
back by itself after pcscd restarts. Answers come from the card model
(``sim/card/model.py``) through the fault injector (``sim/card/faults.py``), after
the delays set per step (a real card signs in about 0.5 s)::

    card = VirtualCard(card_dir, port=35963, delays={"sign": 0.5})
    card.insert(); ...; card.remove()
    card.apdu_log   # [(command, response), ...]; response b"" when it never answered
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
from collections.abc import Callable
from pathlib import Path

from sim.card.directory import load_card
from sim.card.faults import Fault, FaultInjector
from sim.card.model import step_of

VPCD_DEFAULT_PORT = 35963
VPCD_CTRL_OFF, VPCD_CTRL_ON, VPCD_CTRL_RESET, VPCD_CTRL_ATR = 0, 1, 2, 4


class VirtualCard:
    """The card as a vpcd client: place it with ``insert()``, pull it with ``remove()``."""

    def __init__(
        self,
        card_dir: Path | str,
        port: int = VPCD_DEFAULT_PORT,
        host: str = "127.0.0.1",
        delays: dict[str, float] | None = None,
        fault: Fault | str | None = None,
    ) -> None:
        self.card_dir = Path(card_dir)
        self.model = load_card(self.card_dir)
        self.port, self.host = port, host
        self.delays = dict(delays or {})
        self.apdu_log: list[tuple[bytes, bytes]] = []
        self.faults = FaultInjector(fault)
        self._silence = ""  # the action of a fault that left the last command unanswered
        self._inserted = threading.Event()
        self._connected = threading.Event()
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.on_change: Callable[[str], None] | None = None

    # -- public API
    @property
    def inserted(self) -> bool:
        return self._inserted.is_set()

    def insert(self, wait: float = 5.0) -> None:
        """Place the card; waits until the reader has it (up to ``wait`` seconds)."""
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                self._inserted.set()
                return
            self._inserted.set()
            self._connected.clear()
            self._thread = threading.Thread(target=self._serve, name="vcard", daemon=True)
            self._thread.start()
        if wait:
            self._connected.wait(wait)

    def remove(self) -> None:
        """Pull the card out of the reader (the socket closes)."""
        with self._lock:
            self._inserted.clear()
            self._close_socket()
            thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(5)

    def wait_connected(self, timeout: float = 5.0) -> bool:
        return self._connected.wait(timeout)

    def set_fault(self, fault: Fault | str | None) -> None:
        """Arm a one-shot fault (see ``sim/card/faults.py``), or clear it with None."""
        self.faults.arm(fault)

    def pin_tries_left(self) -> int:
        """The JPKI PIN counter as the card holds it (for tests and the demo)."""
        return self.model.tries_left()

    def close(self) -> None:
        self.remove()

    # -- the vpcd conversation
    def _close_socket(self) -> None:
        sock, self._sock = self._sock, None
        self._connected.clear()
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def _serve(self) -> None:
        while self._inserted.is_set():
            try:
                sock = socket.create_connection((self.host, self.port), timeout=1.0)
            except OSError:
                time.sleep(0.05)  # the reader (pcscd) is not there yet: keep the card in
                continue
            sock.settimeout(None)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                if not self._inserted.is_set():
                    sock.close()
                    return
                self._sock = sock
            self.model.reset()
            self._connected.set()
            self._notify("connected")
            try:
                self._converse(sock)
            except OSError:
                pass
            finally:
                with self._lock:
                    if self._sock is sock:
                        self._close_socket()
                self._notify("disconnected")
            time.sleep(0.05)

    def _notify(self, what: str) -> None:
        if self.on_change is not None:
            self.on_change(what)

    def _converse(self, sock: socket.socket) -> None:
        while True:
            message = _recv_message(sock)
            if message is None:
                return
            if len(message) == 1:
                self._control(sock, message[0])
                continue
            answer = self._answer(message)
            if answer is None:
                self.apdu_log.append((bytes(message), b""))
                self._misbehave_silently()
                return
            self.apdu_log.append((bytes(message), answer))
            _send_message(sock, answer)

    def _control(self, sock: socket.socket, code: int) -> None:
        if code in (VPCD_CTRL_OFF, VPCD_CTRL_ON, VPCD_CTRL_RESET):
            self.model.reset()
        elif code == VPCD_CTRL_ATR:
            _send_message(sock, self.model.profile.atr)

    def _answer(self, apdu: bytes) -> bytes | None:
        step = step_of(apdu)
        delay = self.delays.get(step, 0.0) + self.delays.get("any", 0.0)
        if delay:
            time.sleep(delay)  # the card's own pace, not a wait for anything
        answer, fired = self.faults.apply(step, self.model.process(apdu))
        if fired is not None:
            self._silence = fired.action
        return answer

    def _misbehave_silently(self) -> None:
        if self._silence == "hang":
            while self._inserted.is_set():
                time.sleep(0.02)
        else:  # pulled in the middle of the command: stays out until inserted again
            self._inserted.clear()
        with self._lock:
            self._close_socket()


def _recv_exactly(sock: socket.socket, n: int) -> bytes | None:
    buf = b""
    while len(buf) < n:
        # vpcd writes the length and the payload separately: acknowledge at once, or
        # Nagle on its side and delayed ACKs on ours add 40 ms to every APDU.
        with contextlib.suppress(OSError, AttributeError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
        chunk = sock.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


def _recv_message(sock: socket.socket) -> bytes | None:
    header = _recv_exactly(sock, 2)
    if header is None:
        return None
    (length,) = struct.unpack(">H", header)
    return _recv_exactly(sock, length) if length else b""


def _send_message(sock: socket.socket, payload: bytes) -> None:
    sock.sendall(struct.pack(">H", len(payload)) + payload)
