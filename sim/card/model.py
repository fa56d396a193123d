"""The virtual My Number Card's logic: command APDU bytes in, response APDU bytes out.

No sockets, no threads, no files: :class:`CardModel` holds the applications and their
files, the current selection, the security state and the PIN counters, and answers
one command at a time as a real card does (see ``shared/domain/jpki-card.md``)::

    >>> from sim.card.model import CardModel
    >>> card = CardModel(profile)                                   # doctest: +SKIP
    >>> card.process(jpki.select_ap(jpki.JPKI_AID)).hex()           # doctest: +SKIP
    '9000'

The JPKI AP is whole: the user-authentication side (EFs 0006, 000A, 000B, 0017,
0018: a 4-digit PIN, 3 tries) and the signing side (0001 signing certificate, readable
only after the signing password, 0002 its CA, 001A the signing key, 001B the signing
password: 6-16 alphanumerics, 5 tries, its own counter), so PKCS#15 middleware that
asks both PINs when it binds to a card gets a real card's answers. Besides it,
it holds the 券面事項入力補助AP with a made-up My Number behind its
own PIN (the same digits, as municipalities let people set), the
券面確認AP and the 住基AP, so tests can prove the kiosk never selects
them. Re-selecting an AP, a reset or a power-off drops the PIN state;
the PIN counters survive them (:class:`PinCounters`
in memory, ``sim/card/directory.py`` on disk like a card's EEPROM).
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass, field

from drivers import jpki
from sim.pki import CardIdentity

#: Which JPKI step a command is (faults and delays are set per step).
STEPS = ("select_ap", "select_ef", "read", "tries", "verify", "sign", "get_response", "other")
# The 券面事項入力補助AP's files (only in the virtual card; the kiosk never goes there).
EF_MY_NUMBER = 0x0001
EF_CARD_INFO_PIN = 0x0011
#: EF 0006, free to read: the JPKI AP's fixed token text, no secret.
JPKI_TOKEN = "JPKIAPICCTOKEN2"  # noqa: S105
BLOCKED_ENCODINGS = ("63C0", "6984")  # what a blocked PIN answers to the empty VERIFY


@dataclass(frozen=True)
class CardProfile:
    """What one card holds: its JPKI identity and what its maker chose."""

    identity: CardIdentity
    pin: str = "1234"  # a virtual test card's PIN, never a person's
    my_number: str = field(
        default_factory=lambda: "".join(secrets.choice("0123456789") for _ in range(12))
    )
    blocked_encoding: str = "63C0"  # how a blocked PIN answers the empty VERIFY
    get_response: bool = False  # like a card on a T=0 link: 61 00, then GET RESPONSE
    token: str = JPKI_TOKEN
    #: The signing side's certificate and key (a stand-in from the test PKI; None: no
    #: signing certificate, as on a card issued without one).
    signing: CardIdentity | None = None
    signing_password: str = "TESTPASS1"  # noqa: S105 - a virtual test card's, never a person's
    contactless: bool = False  # in a contactless reader: the Type B pseudo-ATR

    @property
    def atr(self) -> bytes:
        return jpki.ATR_MYNUMBER_CONTACTLESS if self.contactless else jpki.ATR_MYNUMBER_CARD


class PinCounters:
    """Tries left per PIN (``"jpki:0018"``), here in memory; a full counter is not stored."""

    def __init__(self) -> None:
        self._tries: dict[str, int] = {}

    def get(self, key: str, full: int = jpki.PIN_MAX_TRIES) -> int:
        return self._tries.get(key, full)

    def set(self, key: str, tries: int) -> None:
        self._tries[key] = tries


@dataclass
class CardFile:
    """One EF: readable bytes, a private key or a PIN, maybe behind a PIN."""

    kind: str  # "binary" | "key" | "pin"
    data: bytes = b""  # a binary file's bytes; a PIN's value
    needs_pin: int | None = None  # EF id of the PIN that must be verified first
    max_tries: int = jpki.PIN_MAX_TRIES  # a PIN's
    lengths: range = range(jpki.PIN_LENGTH, jpki.PIN_LENGTH + 1)  # a PIN's allowed lengths
    identity: CardIdentity | None = None  # a key's


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


def _applets(profile: CardProfile) -> dict[bytes, Applet]:
    token = profile.token.encode("ascii").ljust(32, b" ")
    identity = profile.identity
    pin = profile.pin.encode("ascii")
    jpki_files = {
        jpki.EF_TOKEN: CardFile("binary", token),
        jpki.EF_AUTH_CERT: CardFile("binary", identity.certificate_der),
        jpki.EF_AUTH_CA_CERT: CardFile("binary", identity.ca_certificate_der),
        jpki.EF_AUTH_KEY: CardFile("key", needs_pin=jpki.EF_AUTH_PIN, identity=identity),
        jpki.EF_AUTH_PIN: CardFile("pin", pin),
    }
    signing = profile.signing
    if signing is not None:
        jpki_files |= {
            jpki.EF_SIGN_CERT: CardFile(
                "binary", signing.certificate_der, needs_pin=jpki.EF_SIGN_PIN
            ),
            jpki.EF_SIGN_CA_CERT: CardFile("binary", signing.ca_certificate_der),
            jpki.EF_SIGN_KEY: CardFile("key", needs_pin=jpki.EF_SIGN_PIN, identity=signing),
            jpki.EF_SIGN_PIN: CardFile(
                "pin",
                profile.signing_password.encode("ascii"),
                max_tries=jpki.SIGN_PIN_MAX_TRIES,
                lengths=jpki.SIGN_PIN_LENGTHS,
            ),
        }
    return {
        jpki.JPKI_AID: Applet(jpki.JPKI_AID, "jpki", jpki_files),
        jpki.AID_CARD_INFO_INPUT: Applet(
            jpki.AID_CARD_INFO_INPUT,
            "card_info",
            {
                EF_MY_NUMBER: CardFile(
                    "binary", profile.my_number.encode("ascii"), needs_pin=EF_CARD_INFO_PIN
                ),
                EF_CARD_INFO_PIN: CardFile("pin", pin),
            },
        ),
        jpki.AID_CARD_FACE: Applet(jpki.AID_CARD_FACE, "card_face"),
        jpki.AID_JUKI: Applet(jpki.AID_JUKI, "juki"),
    }


class CardModel:
    """The card's logic: files, selection, security state and PIN counters. No I/O."""

    def __init__(self, profile: CardProfile, counters: PinCounters | None = None) -> None:
        self.profile = profile
        self.identity = profile.identity
        self.counters = counters if counters is not None else PinCounters()
        self.blocked_encoding = int(profile.blocked_encoding, 16)
        self.get_response = profile.get_response
        self.applets = _applets(profile)
        self._lock = threading.Lock()
        self.reset()

    # state that a reset or power cycle drops
    def reset(self) -> None:
        self.applet: Applet | None = None
        self.current_ef: int | None = None
        self.verified: set[int] = set()
        self._pending = b""  # an announced answer not yet fetched with GET RESPONSE

    def tries_left(self, applet: str = "jpki", ef: int = jpki.EF_AUTH_PIN) -> int:
        full = jpki.SIGN_PIN_MAX_TRIES if (applet, ef) == ("jpki", jpki.EF_SIGN_PIN) else None
        return self.counters.get(f"{applet}:{ef:04X}", full or jpki.PIN_MAX_TRIES)

    def _counter_key(self, ef: int) -> str:
        assert self.applet is not None
        return f"{self.applet.name}:{ef:04X}"

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
        tries = self.counters.get(key, f.max_tries)
        if len(apdu) == 4:  # how many tries are left; costs none
            if tries == 0:
                return _sw(self.blocked_encoding)
            return _sw(jpki.SW_PIN_TRIES_MASK | tries)
        if tries == 0:
            return _sw(jpki.SW_PIN_BLOCKED)
        pin = apdu[5 : 5 + apdu[4]]
        if apdu[4] not in f.lengths or len(pin) != apdu[4]:
            return _sw(jpki.SW_WRONG_LENGTH)
        if secrets.compare_digest(bytes(pin), f.data):
            self.counters.set(key, f.max_tries)
            self.verified.add(self.current_ef)
            return _sw(jpki.SW_OK)
        self.counters.set(key, tries - 1)  # written before answering, like EEPROM
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
        signature = _raw_pkcs1_sign(f.identity or self.identity, data)
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
        return identity.sign_digest(digest_info[len(prefix) :])  # the same bytes, computed fast
    numbers = identity.key.private_numbers()
    n, d = numbers.public_numbers.n, numbers.d
    k = (n.bit_length() + 7) // 8
    if len(digest_info) > k - 11:
        return b""
    em = b"\x00\x01" + b"\xff" * (k - 3 - len(digest_info)) + b"\x00" + digest_info
    return pow(int.from_bytes(em, "big"), d, n).to_bytes(k, "big")
