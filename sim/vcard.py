"""The virtual My Number Card: answers like a real one, through a real pcscd.

It speaks the vpcd socket protocol to ``pcscd`` with the ``vsmartcard-vpcd`` driver
(a 2-byte big-endian length, then a payload; a 1-byte payload is a control: 0 power
off, 1 power on, 2 reset, 4 get ATR). Connecting is "card placed", closing the socket
is "card removed". The card holds the JPKI AP with its files, and the other APs too
(券面事項入力補助AP with a made-up My Number), so tests can prove the kiosk never
selects them. Its PIN counter lives in ``state.json`` in the card directory, so a
blocked card stays blocked across restarts.

Make a card and run it (see docs/card.md)::

    mynapoint-vcard new --pki /tmp/pki --out /tmp/card1 [--expired] [--pin 1234]
    mynapoint-vcard run --card /tmp/card1 --port 35963 [--delay-sign 0.5] [--fault pull@sign]

``run`` signs in 0.5 s by default, like a real card (``--delay-sign 0`` for none).

While ``run`` is going, place/remove the card with ``SIGUSR1`` (toggle), by typing
``insert``/``remove``/``toggle``/``fault MODE``/``quit`` on its stdin, or through
``--control PATH`` (a Unix socket taking the same one-line commands; ``mynapoint-vcard
ctl --control PATH remove``).

In-process (tests, demo)::

    card = VirtualCard(card_dir, port=35963, delays={"sign": 0.5})
    card.insert(); ...; card.remove()
    card.apdu_log   # [(command, response), ...]; response b"" when it never answered

Fault modes, ``ACTION@STEP[#N]`` (the N-th such command after the fault is set,
default 1; it fires once): actions ``pull`` (removed before answering), ``hang`` (no
answer until removed), ``truncate`` (one byte), ``garbage`` (random bytes),
``sw=XXXX`` (that status word alone), ``raw=HEX`` (exactly these bytes); steps
``select_ap``, ``select_ef``, ``read``, ``tries``, ``verify``, ``sign``, ``any``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import signal
import socket
import struct
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from drivers import jpki
from sim.pki import CardIdentity, TestPKI

VPCD_DEFAULT_PORT = 35963
VPCD_CTRL_OFF, VPCD_CTRL_ON, VPCD_CTRL_RESET, VPCD_CTRL_ATR = 0, 1, 2, 4

STEPS = ("select_ap", "select_ef", "read", "tries", "verify", "sign", "get_response", "other")
# The 券面事項入力補助AP's files (only in the virtual card; the kiosk never goes there).
EF_MY_NUMBER = 0x0001
EF_CARD_INFO_PIN = 0x0011

PIN_STATE_FILE = "state.json"
PROFILE_FILE = "card.json"


# --- The card's contents and state ------------------------------------------------
@dataclass
class CardFile:
    """One EF: readable bytes, a private key or a PIN, maybe behind a PIN."""

    kind: str  # "binary" | "key" | "pin"
    data: bytes = b""
    needs_pin: int | None = None  # EF id of the PIN that must be verified first


@dataclass
class Applet:
    aid: bytes
    name: str
    files: dict[int, CardFile] = field(default_factory=dict)


def step_of(apdu: bytes) -> str:
    """Which JPKI step a command APDU is (for faults, delays and tests)."""
    if len(apdu) < 4:
        return "other"
    ins, p1 = apdu[1], apdu[2]
    if ins == jpki.INS_SELECT:
        return "select_ap" if p1 == jpki.P1_SELECT_DF_NAME else "select_ef"
    if ins == jpki.INS_READ_BINARY:
        return "read"
    if ins == jpki.INS_VERIFY:
        return "tries" if len(apdu) == 4 else "verify"
    if ins == jpki.INS_SIGN:
        return "sign"
    if ins == jpki.INS_GET_RESPONSE:
        return "get_response"
    return "other"


def _sw(sw: int) -> bytes:
    return sw.to_bytes(2, "big")


class CardModel:
    """The card's logic: files, selection, security state and PIN counters. No I/O."""

    def __init__(self, card_dir: Path) -> None:
        self.card_dir = Path(card_dir)
        self.identity = CardIdentity.load(self.card_dir)
        profile = json.loads((self.card_dir / PROFILE_FILE).read_text())
        self._pin = profile["pin"].encode("ascii")
        self.blocked_encoding = int(profile.get("blocked_encoding", "63C0"), 16)
        # Like a card on a T=0 link: a signature is announced (61 00), then fetched.
        self.get_response = bool(profile.get("get_response", False))
        token = profile.get("token", "JPKIAPICCTOKEN2").encode("ascii").ljust(32, b" ")
        self.applets = {
            jpki.JPKI_AID: Applet(
                jpki.JPKI_AID,
                "jpki",
                {
                    jpki.EF_TOKEN: CardFile("binary", token),
                    jpki.EF_AUTH_CERT: CardFile("binary", self.identity.certificate_der),
                    jpki.EF_AUTH_CA_CERT: CardFile("binary", self.identity.ca_certificate_der),
                    jpki.EF_AUTH_KEY: CardFile("key", needs_pin=jpki.EF_AUTH_PIN),
                    jpki.EF_AUTH_PIN: CardFile("pin"),
                },
            ),
            jpki.AID_CARD_INFO_INPUT: Applet(
                jpki.AID_CARD_INFO_INPUT,
                "card_info",
                {
                    EF_MY_NUMBER: CardFile(
                        "binary", profile["my_number"].encode("ascii"), needs_pin=EF_CARD_INFO_PIN
                    ),
                    EF_CARD_INFO_PIN: CardFile("pin"),
                },
            ),
            jpki.AID_CARD_FACE: Applet(jpki.AID_CARD_FACE, "card_face"),
            jpki.AID_JUKI: Applet(jpki.AID_JUKI, "juki"),
        }
        self._lock = threading.Lock()
        self.reset()

    # state that a reset or power cycle drops
    def reset(self) -> None:
        self.applet: Applet | None = None
        self.current_ef: int | None = None
        self.verified: set[int] = set()
        self._pending = b""  # an announced answer not yet fetched with GET RESPONSE

    # PIN counters live on "disk", like a real card's EEPROM
    def _counter_key(self, ef: int) -> str:
        assert self.applet is not None
        return f"{self.applet.name}:{ef:04X}"

    def _load_state(self) -> dict[str, int]:
        path = self.card_dir / PIN_STATE_FILE
        return json.loads(path.read_text()) if path.exists() else {}

    def tries_left(self, applet: str = "jpki", ef: int = jpki.EF_AUTH_PIN) -> int:
        return self._load_state().get(f"{applet}:{ef:04X}", jpki.PIN_MAX_TRIES)

    def _save_tries(self, key: str, tries: int) -> None:
        state = self._load_state()
        state[key] = tries
        tmp = self.card_dir / (PIN_STATE_FILE + ".tmp")
        tmp.write_text(json.dumps(state))
        os.replace(tmp, self.card_dir / PIN_STATE_FILE)

    def process(self, apdu: bytes) -> bytes:
        """Answer one command APDU with a response APDU."""
        with self._lock:
            if len(apdu) < 4:
                return _sw(jpki.SW_WRONG_LENGTH)
            cla, ins = apdu[0], apdu[1]
            handler = {
                (jpki.CLA_ISO, jpki.INS_SELECT): self._select,
                (jpki.CLA_ISO, jpki.INS_READ_BINARY): self._read_binary,
                (jpki.CLA_ISO, jpki.INS_VERIFY): self._verify,
                (jpki.CLA_PROPRIETARY, jpki.INS_SIGN): self._sign,
                (jpki.CLA_ISO, jpki.INS_GET_RESPONSE): self._get_response,
            }.get((cla, ins))
            if handler is None:
                known_cla = cla in (jpki.CLA_ISO, jpki.CLA_PROPRIETARY)
                return _sw(jpki.SW_INS_NOT_SUPPORTED if known_cla else jpki.SW_CLA_NOT_SUPPORTED)
            return handler(apdu)

    def _select(self, apdu: bytes) -> bytes:
        p1, p2 = apdu[2], apdu[3]
        data = apdu[5 : 5 + apdu[4]] if len(apdu) > 5 else b""
        if p2 != jpki.P2_NO_FCI:
            return _sw(jpki.SW_WRONG_P1P2)
        if p1 == jpki.P1_SELECT_DF_NAME:
            applet = self.applets.get(bytes(data))
            if applet is None:
                return _sw(jpki.SW_FILE_NOT_FOUND)
            self.reset()
            self.applet = applet
            return _sw(jpki.SW_OK)
        if p1 == jpki.P1_SELECT_EF_ID:
            ef = int.from_bytes(data, "big") if len(data) == 2 else None
            if self.applet is None or ef not in self.applet.files:
                return _sw(jpki.SW_FILE_NOT_FOUND)
            self.current_ef = ef
            return _sw(jpki.SW_OK)
        return _sw(jpki.SW_WRONG_P1P2)

    def _current_file(self) -> CardFile | None:
        if self.applet is None or self.current_ef is None:
            return None
        return self.applet.files[self.current_ef]

    def _read_binary(self, apdu: bytes) -> bytes:
        f = self._current_file()
        if f is None:
            return _sw(jpki.SW_NO_CURRENT_EF)
        if f.kind != "binary":
            return _sw(jpki.SW_INCOMPATIBLE_FILE)
        if f.needs_pin is not None and f.needs_pin not in self.verified:
            return _sw(jpki.SW_SECURITY_NOT_SATISFIED)
        if len(apdu) != 5:
            return _sw(jpki.SW_WRONG_LENGTH)
        offset = (apdu[2] << 8) | apdu[3]
        le = apdu[4] or 256
        if offset > len(f.data):
            return _sw(jpki.SW_OFFSET_OUTSIDE)
        chunk = f.data[offset : offset + le]
        return chunk + _sw(jpki.SW_OK if len(chunk) == le else jpki.SW_END_OF_FILE)

    def _verify(self, apdu: bytes) -> bytes:
        f = self._current_file()
        if apdu[2] != 0x00 or apdu[3] != jpki.P2_VERIFY_LOCAL_PIN:
            return _sw(jpki.SW_WRONG_P1P2)
        if f is None or f.kind != "pin":
            return _sw(jpki.SW_NO_CURRENT_EF)
        key = self._counter_key(self.current_ef)
        tries = self._load_state().get(key, jpki.PIN_MAX_TRIES)
        if len(apdu) == 4:  # how many tries are left; costs none
            if tries == 0:
                return _sw(self.blocked_encoding)
            return _sw(jpki.SW_PIN_TRIES_MASK | tries)
        if tries == 0:
            return _sw(jpki.SW_PIN_BLOCKED)
        pin = apdu[5 : 5 + apdu[4]]
        if apdu[4] != jpki.PIN_LENGTH or len(pin) != jpki.PIN_LENGTH:
            return _sw(jpki.SW_WRONG_LENGTH)
        if secrets.compare_digest(bytes(pin), self._pin):
            self._save_tries(key, jpki.PIN_MAX_TRIES)
            self.verified.add(self.current_ef)
            return _sw(jpki.SW_OK)
        self._save_tries(key, tries - 1)  # written before answering, like EEPROM
        self.verified.discard(self.current_ef)
        return _sw(jpki.SW_PIN_TRIES_MASK | (tries - 1))

    def _sign(self, apdu: bytes) -> bytes:
        f = self._current_file()
        if apdu[2] != jpki.P1_SIGN or apdu[3] != jpki.P2_SIGN:
            return _sw(jpki.SW_WRONG_P1P2)
        if f is None or f.kind != "key":
            return _sw(jpki.SW_NO_CURRENT_EF)
        if f.needs_pin not in self.verified:
            return _sw(jpki.SW_SECURITY_NOT_SATISFIED)
        if len(apdu) < 6 or len(apdu) < 5 + apdu[4]:
            return _sw(jpki.SW_WRONG_LENGTH)
        data = apdu[5 : 5 + apdu[4]]
        signature = _raw_pkcs1_sign(self.identity, data)
        if self.get_response:
            self._pending = signature
            return _sw((jpki.SW1_MORE_DATA << 8) | (len(signature) & 0xFF))
        return signature + _sw(jpki.SW_OK)

    def _get_response(self, apdu: bytes) -> bytes:
        if not self._pending:
            return _sw(jpki.SW_NO_CURRENT_EF)
        le = (apdu[4] if len(apdu) == 5 else 0) or 256
        chunk, self._pending = self._pending[:le], self._pending[le:]
        more = len(self._pending)
        return chunk + _sw(jpki.SW_OK if not more else (jpki.SW1_MORE_DATA << 8) | (more & 0xFF))


def _raw_pkcs1_sign(identity: CardIdentity, digest_info: bytes) -> bytes:
    """What the card does: PKCS#1 v1.5 type-1 padding around the DigestInfo, then RSA."""
    prefix = jpki.DIGEST_INFO_SHA256_PREFIX
    if len(digest_info) == len(prefix) + jpki.SHA256_LENGTH and digest_info.startswith(prefix):
        # The same bytes as below, computed fast by cryptography.
        digest = digest_info[len(prefix) :]
        return identity.key.sign(digest, padding.PKCS1v15(), Prehashed(hashes.SHA256()))
    numbers = identity.key.private_numbers()
    n, d = numbers.public_numbers.n, numbers.d
    k = (n.bit_length() + 7) // 8
    if len(digest_info) > k - 11:
        return b""
    em = b"\x00\x01" + b"\xff" * (k - 3 - len(digest_info)) + b"\x00" + digest_info
    return pow(int.from_bytes(em, "big"), d, n).to_bytes(k, "big")


# --- Faults -----------------------------------------------------------------------
@dataclass
class Fault:
    """A one-shot misbehaviour: ``action`` at the ``nth`` command of ``step``."""

    action: str  # pull | hang | truncate | garbage | sw | raw
    step: str = "any"
    nth: int = 1
    payload: bytes = b""

    @classmethod
    def parse(cls, spec: str) -> Fault:
        """``ACTION@STEP[#N]``, e.g. ``pull@sign``, ``sw=6F00@read#2``, ``raw=9000@tries``."""
        action, _, where = spec.partition("@")
        step, _, nth = (where or "any").partition("#")
        payload = b""
        if "=" in action:
            action, _, value = action.partition("=")
            payload = bytes.fromhex(value)
        if action not in ("pull", "hang", "truncate", "garbage", "sw", "raw"):
            raise ValueError(f"unknown fault action {action!r}")
        if step not in (*STEPS, "any"):
            raise ValueError(f"unknown fault step {step!r}")
        return cls(action, step, int(nth or 1), payload)

    def answer(self, normal: bytes) -> bytes | None:
        """The faulty answer, or None for 'no answer' (pull, hang)."""
        if self.action in ("pull", "hang"):
            return None
        if self.action == "truncate":
            return normal[:1]
        if self.action == "garbage":
            return secrets.token_bytes(1 + secrets.randbelow(40))
        return self.payload  # sw=XXXX or raw=HEX: exactly these bytes


# --- The card in a reader -----------------------------------------------------------
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
        self.model = CardModel(self.card_dir)
        self.port, self.host = port, host
        self.delays = dict(delays or {})
        self.apdu_log: list[tuple[bytes, bytes]] = []
        self._fault: Fault | None = None
        self._fault_seen = 0
        self.set_fault(fault)
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
        """Arm a one-shot fault (see the module docstring), or clear it with None."""
        self._fault = Fault.parse(fault) if isinstance(fault, str) else fault
        self._fault_seen = 0

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
            _send_message(sock, jpki.ATR_MYNUMBER_CARD)

    def _answer(self, apdu: bytes) -> bytes | None:
        step = step_of(apdu)
        delay = self.delays.get(step, 0.0) + self.delays.get("any", 0.0)
        if delay:
            time.sleep(delay)
        normal = self.model.process(apdu)
        fault = self._fault
        if fault is not None and fault.step in (step, "any"):
            self._fault_seen += 1
            if self._fault_seen == fault.nth:
                self._fault = None
                self._pending_action = fault.action
                return fault.answer(normal)
        return normal

    def _misbehave_silently(self) -> None:
        if self._pending_action == "hang":
            while self._inserted.is_set():
                time.sleep(0.02)
        else:  # pulled in the middle of the command: stays out until inserted again
            self._inserted.clear()
        with self._lock:
            self._close_socket()

    _pending_action = ""


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


# --- Making cards -------------------------------------------------------------------
def make_card(
    pki_dir: Path,
    out: Path,
    *,
    expired: bool = False,
    pin: str = "1234",
    generation: str = "2023",
    blocked_encoding: str = "63C0",
    pki: TestPKI | None = None,
    get_response: bool = False,
) -> Path:
    """Issue a new card from the test PKI in ``pki_dir`` and write it to ``out``."""
    import datetime as dt

    if len(pin) != jpki.PIN_LENGTH or not pin.isdigit():
        raise ValueError("the user-authentication PIN is 4 digits")
    pki = pki or TestPKI.load_or_create(Path(pki_dir))
    now = dt.datetime.now(dt.UTC)
    dates = {}
    if expired:
        dates = {"not_before": now - dt.timedelta(days=5 * 365), "not_after": now - dt.timedelta(1)}
    identity = pki.issue_card(generation=generation, **dates)
    out = Path(out)
    identity.save(out)
    profile = {
        "pin": pin,  # a virtual test card's PIN, never a person's
        "my_number": "".join(secrets.choice("0123456789") for _ in range(12)),
        "blocked_encoding": blocked_encoding,
        "get_response": get_response,
        "token": "JPKIAPICCTOKEN2",
    }
    (out / PROFILE_FILE).write_text(json.dumps(profile, indent=1))
    with contextlib.suppress(FileNotFoundError):
        (out / PIN_STATE_FILE).unlink()
    return out


# --- Command line -------------------------------------------------------------------
def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="mynapoint-vcard", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    new = sub.add_parser("new", help="make a new virtual card from a test PKI")
    new.add_argument("--pki", type=Path, required=True, help="test PKI directory (made if empty)")
    new.add_argument("--out", type=Path, required=True, help="card directory to write")
    new.add_argument("--expired", action="store_true", help="certificate already expired")
    new.add_argument("--pin", default="1234")
    new.add_argument("--generation", default="2023", choices=("2015", "2023"))
    new.add_argument("--blocked-encoding", default="63C0", choices=("63C0", "6984"))
    new.add_argument(
        "--get-response", action="store_true", help="announce the signature with 61 00 (T=0)"
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
        )
        print(out)
        return 0
    if args.command == "ctl":
        return _ctl(args)
    return _run(args)


if __name__ == "__main__":
    sys.exit(main())
