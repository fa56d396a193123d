"""The kiosk's configuration: one TOML file, validated at start.

The file is ``/etc/mynapoint-kiosk/kiosk.toml`` unless ``MYNAPOINT_CONFIG`` or the
caller names another. Every problem is reported at once, each naming the key and
what is expected, so an installer fixes a file in one go::

    kiosk.toml: printer.baudrate: expected one of 9600, 19200, 38400, 57600, 115200; got 12345
    kiosk.toml: central.base_url: expected an https:// URL; got 'http://central.example'
    kiosk.toml: unknown key 'idle_timout_seconds' (did you mean 'idle_timeout_seconds'?)

``kiosk/data/kiosk.example.toml`` is a complete example with every key explained.

    >>> config = load_config("kiosk/data/kiosk.example.toml", check_files=False)
    >>> config.printer.columns
    42
"""

from __future__ import annotations

import difflib
import hashlib
import hmac
import os
import re
import secrets
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from contract.errors import KioskError
from drivers.printer_profiles import PROFILES, UnsupportedPrinter
from drivers.printer_status import TRANSPORTS
from kiosk.i18n import LANGUAGES

DEFAULT_PATH = Path("/etc/mynapoint-kiosk/kiosk.toml")
ENV_VAR = "MYNAPOINT_CONFIG"
EXAMPLE_PATH = Path(__file__).with_name("data") / "kiosk.example.toml"

BAUDRATES = (9600, 19200, 38400, 57600, 115200)
PRINTER_MODES = ("kanji", "raster")
_COLOR = re.compile(r"#[0-9A-Fa-f]{6}")
_KIOSK_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,31}")
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}  # staff PIN hash cost


class ConfigInvalid(KioskError):
    """The configuration file is missing, unreadable or has bad values (all listed)."""

    kind = "config_invalid"

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


# --- the sections ----------------------------------------------------------------------
@dataclass(frozen=True)
class StoreConfig:
    name: str
    primary_color: str
    accent_color: str
    background_color: str
    text_color: str


@dataclass(frozen=True)
class CardConfig:
    reader_pattern: str  # fnmatch pattern of the reader name, e.g. "SONY FeliCa*"
    transceive_timeout: float
    trusted_ca_bundle: Path  # PEM, every JPKI user-auth CA generation trusted


@dataclass(frozen=True)
class PrinterConfig:
    port: str  # serial or USB device path ("" for a network printer)
    baudrate: int
    mode: str
    columns: int
    rtscts: bool  # hardware flow control (RTS/CTS), for printers wired for it
    transport: str = "serial"  # serial | usb | network
    host: str = ""  # network printer: "host" or "host:port" (raw TCP, 9100 by default)
    profile: str = ""  # drivers/data/printer_profiles.toml; "" = columns and mode as given

    @property
    def address(self) -> str:
        """What the transport opens: the device path, or host[:port]."""
        return self.host if self.transport == "network" else self.port


@dataclass(frozen=True)
class CentralConfig:
    base_url: str
    ca_cert: Path  # pinned CA of the central service
    client_cert: Path
    client_key: Path
    sealing_public_keys: tuple[Path, ...]  # oldest to newest; the newest seals
    status_url: str  # printed as the receipt's QR code; must contain {receipt_no}
    timeout: float
    submit_wait_seconds: float  # how long the person waits for an online answer


@dataclass(frozen=True)
class QueueConfig:
    db_path: Path
    guard_secret_path: Path


@dataclass(frozen=True)
class DisplayConfig:
    fullscreen: bool
    width: int
    height: int
    show_cursor: bool
    #: No way out: a window close request, Ctrl+C and SIGINT do nothing (docs/appliance.md).
    lockdown: bool = True
    #: One more frame once drawing stops, for a display that shows each frame only when
    #: the next one comes (qemu's virtio-gpu with Mesa's llvmpipe: docs/appliance.md).
    trailing_frame: bool = False


@dataclass(frozen=True)
class SpeechConfig:
    """Spoken guidance and sound cues (``[speech]``; see docs/speech.md)."""

    enabled: bool = True
    cues: bool = True  # a tone on every accepted touch or key, another on errors
    cache_dir: Path = Path("/var/cache/mynapoint-kiosk/speech")
    voice_dir: Path | None = None  # where mei_normal.htsvoice is (default: in the venv)
    prebuild: bool = True  # render every prompt at first start (else: when first needed)
    blank_screen_in_handset: bool = False
    handset_device: str = ""  # ALSA device of the handset (aplay -D); "" = the default output
    jack_state_file: str = ""  # a file saying whether headphones are plugged in
    jack_plugged_pattern: str = ""  # regular expression for "plugged" in that file


@dataclass(frozen=True)
class KioskConfig:
    kiosk_id: str
    language: str
    idle_timeout_seconds: float
    countdown_seconds: float
    card_left_cue_seconds: float
    staff_pin_hash: str
    store: StoreConfig
    card: CardConfig
    printer: PrinterConfig
    central: CentralConfig
    queue: QueueConfig
    display: DisplayConfig
    source: Path
    speech: SpeechConfig = SpeechConfig()
    #: In an accessibility mode every time limit is this many times longer (issue 10).
    assist_time_factor: float = 3.0

    def staff_pin_matches(self, pin: bytearray) -> bool:
        """Check the staff PIN typed on the hidden staff screen (constant time)."""
        return verify_staff_pin(self.staff_pin_hash, pin)

    def read_guard_secret(self) -> bytes:
        return self.queue.guard_secret_path.read_bytes()

    def read_sealing_keys(self) -> list[bytes]:
        return [path.read_bytes() for path in self.central.sealing_public_keys]


# --- staff PIN hashing -----------------------------------------------------------------
def hash_staff_pin(pin: str) -> str:
    """The value for ``staff_pin_hash``: scrypt with a random salt."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(pin.encode(), salt=salt, **_SCRYPT)
    return f"scrypt${_SCRYPT['n']}${_SCRYPT['r']}${_SCRYPT['p']}${salt.hex()}${digest.hex()}"


def _parse_pin_hash(text: str) -> tuple[int, int, int, bytes, bytes] | None:
    parts = text.split("$")
    if len(parts) != 6 or parts[0] != "scrypt":
        return None
    try:
        n, r, p = (int(x) for x in parts[1:4])
        return n, r, p, bytes.fromhex(parts[4]), bytes.fromhex(parts[5])
    except ValueError:
        return None


def verify_staff_pin(stored: str, pin: bytearray) -> bool:
    parsed = _parse_pin_hash(stored)
    if parsed is None:
        return False
    n, r, p, salt, expected = parsed
    digest = hashlib.scrypt(bytes(pin), salt=salt, n=n, r=r, p=p, maxmem=2**26)
    return hmac.compare_digest(digest, expected)


# --- reading and checking ------------------------------------------------------------------
class _Checker:
    """Reads typed values out of the TOML tables, collecting every problem."""

    def __init__(self, base_dir: Path, check_files: bool) -> None:
        self.problems: list[str] = []
        self.base_dir = base_dir
        self.check_files = check_files

    def bad(self, key: str, expected: str, value: Any = ...) -> None:
        got = "" if value is ... else f"; got {value!r}"
        self.problems.append(f"{key}: expected {expected}{got}")

    def table(self, doc: Mapping[str, Any], name: str) -> Mapping[str, Any]:
        value = doc.get(name, {})
        if not isinstance(value, Mapping):
            self.bad(name, "a table [" + name + "]", value)
            return {}
        return value

    def get(
        self,
        table: Mapping[str, Any],
        key: str,
        kind: type | tuple[type, ...],
        expected: str,
        default: Any = ...,
        check: Callable[[Any], bool] = lambda _: True,
    ) -> Any:
        name = key.rsplit(".", 1)[-1]
        if name not in table:
            if default is ...:
                self.problems.append(f"{key}: missing; expected {expected}")
            return None if default is ... else default
        value = table[name]
        ok = isinstance(value, kind) and not (isinstance(value, bool) and kind in (int, float))
        if kind == (int, float) and isinstance(value, bool):
            ok = False
        if not ok or not check(value):
            self.bad(key, expected, value)
            return None if default is ... else default
        return value

    def number(self, table, key, low, high, default=...) -> float | None:
        return self.get(
            table,
            key,
            (int, float),
            f"a number from {low} to {high}",
            default,
            lambda v: low <= v <= high,
        )

    def path(self, table, key, *, must_exist: bool = True, default: Any = ...) -> Path | None:
        text = self.get(table, key, str, "a file path", default, lambda v: bool(v.strip()))
        if text is None:
            return None
        path = Path(text)
        if not path.is_absolute():
            path = self.base_dir / path
        if must_exist and self.check_files and not path.is_file():
            self.problems.append(f"{key}: expected an existing file; {path} does not exist")
        return path

    def color(self, table, key, default) -> str:
        return self.get(
            table, key, str, 'a colour "#RRGGBB"', default, lambda v: bool(_COLOR.fullmatch(v))
        )

    def unknown_keys(self, table: Mapping[str, Any], known: list[str], prefix: str = "") -> None:
        for key in table:
            if key not in known:
                close = difflib.get_close_matches(key, known, n=1)
                hint = f" (did you mean '{prefix}{close[0]}'?)" if close else ""
                self.problems.append(f"unknown key '{prefix}{key}'{hint}")


def _names(cls: type) -> list[str]:
    return [f.name for f in fields(cls)]


def _store(c: _Checker, doc: Mapping[str, Any]) -> StoreConfig:
    t = c.table(doc, "store")
    c.unknown_keys(t, _names(StoreConfig), "store.")
    return StoreConfig(
        name=c.get(t, "store.name", str, "the store's name as shown", None, str.strip) or "",
        primary_color=c.color(t, "store.primary_color", "#1A5FB4"),
        accent_color=c.color(t, "store.accent_color", "#E66100"),
        background_color=c.color(t, "store.background_color", "#FFFFFF"),
        text_color=c.color(t, "store.text_color", "#000000"),
    )


def _card(c: _Checker, doc: Mapping[str, Any]) -> CardConfig:
    t = c.table(doc, "card")
    c.unknown_keys(t, _names(CardConfig), "card.")
    pattern = c.get(
        t,
        "card.reader_pattern",
        str,
        'the reader name or a pattern like "SONY FeliCa*" (never empty: no "first reader")',
        check=lambda v: bool(v.strip()) and v.strip() != "*",
    )
    return CardConfig(
        reader_pattern=pattern or "",
        transceive_timeout=c.number(t, "card.transceive_timeout", 1, 60, 8.0),
        trusted_ca_bundle=c.path(t, "card.trusted_ca_bundle"),
    )


def _network_address(value: str) -> bool:
    host, sep, port = value.strip().rpartition(":")
    if sep and "]" not in port:
        return bool(host) and port.isdigit() and 0 < int(port) < 65536
    return bool(value.strip())


def _printer(c: _Checker, doc: Mapping[str, Any]) -> PrinterConfig:
    t = c.table(doc, "printer")
    c.unknown_keys(t, _names(PrinterConfig), "printer.")
    bauds = ", ".join(map(str, BAUDRATES))
    transport = c.get(
        t,
        "printer.transport",
        str,
        "one of " + ", ".join(TRANSPORTS),
        "serial",
        lambda v: v in TRANSPORTS,
    )
    port = host = ""
    if transport == "network":
        host = (
            c.get(
                t,
                "printer.host",
                str,
                'the network printer\'s host name or address, with ":port" if not 9100',
                check=_network_address,
            )
            or ""
        )
        if "port" in t:
            c.problems.append(
                'printer.port: not used with transport = "network"; give printer.host'
            )
    else:
        device = (
            "a USB printer device path such as /dev/usb/lp0"
            if transport == "usb"
            else "a serial device path such as /dev/ttyUSB0"
        )
        port = c.get(t, "printer.port", str, device) or ""
        if "host" in t:
            c.problems.append(
                f'printer.host: only used with transport = "network"; got {transport!r}'
            )
    profile_id = c.get(
        t,
        "printer.profile",
        str,
        "one of " + ", ".join(PROFILES),
        "",
        lambda v: v in PROFILES,
    )
    profile = PROFILES.get(profile_id) if profile_id else None
    if profile is not None:
        try:
            profile.check_supported()
        except UnsupportedPrinter as refused:
            c.problems.append(f"printer.profile: {refused}")
    mode = c.get(
        t,
        "printer.mode",
        str,
        "one of kanji, raster",
        profile.default_mode if profile else "kanji",
        lambda v: v in PRINTER_MODES,
    )
    if profile is not None and mode is not None:
        try:
            profile.check_mode(mode)
        except UnsupportedPrinter as refused:
            c.problems.append(f"printer.mode: {refused}")
    most = profile.max_columns if profile else 64
    where = f" for profile {profile_id}" if profile else ""
    columns = c.get(
        t,
        "printer.columns",
        int,
        f"a whole number from 24 to {most}{where}",
        profile.max_columns if profile else 42,
        lambda v: 24 <= v <= most,
    )
    return PrinterConfig(
        port=port,
        baudrate=c.get(
            t, "printer.baudrate", int, f"one of {bauds}", 115200, lambda v: v in BAUDRATES
        ),
        mode=mode,
        columns=columns,
        rtscts=c.get(t, "printer.rtscts", bool, "true or false", False),
        transport=transport,
        host=host,
        profile=profile_id or "",
    )


def _https_url(value: str) -> bool:
    parts = urlsplit(value)
    return parts.scheme == "https" and bool(parts.hostname)


def _central(c: _Checker, doc: Mapping[str, Any]) -> CentralConfig:
    t = c.table(doc, "central")
    c.unknown_keys(t, _names(CentralConfig), "central.")
    keys = c.get(
        t,
        "central.sealing_public_keys",
        list,
        "a list of one or more PEM file paths, oldest to newest",
        check=lambda v: bool(v) and all(isinstance(x, str) and x for x in v),
    )
    sealing = tuple(_key_path(c, path, n) for n, path in enumerate(keys or []))
    return CentralConfig(
        base_url=(
            c.get(t, "central.base_url", str, "an https:// URL", check=_https_url) or ""
        ).rstrip("/"),
        ca_cert=c.path(t, "central.ca_cert"),
        client_cert=c.path(t, "central.client_cert"),
        client_key=c.path(t, "central.client_key"),
        sealing_public_keys=sealing,
        status_url=c.get(
            t,
            "central.status_url",
            str,
            "an https:// URL containing {receipt_no}",
            check=lambda v: _https_url(v) and "{receipt_no}" in v,
        )
        or "",
        timeout=c.number(t, "central.timeout", 0.5, 60, 5.0),
        submit_wait_seconds=c.number(t, "central.submit_wait_seconds", 0, 30, 3.0),
    )


def _key_path(c: _Checker, text: str, index: int) -> Path:
    key = f"central.sealing_public_keys[{index}]"
    path = Path(text) if Path(text).is_absolute() else c.base_dir / text
    if c.check_files and not path.is_file():
        c.problems.append(f"{key}: expected an existing file; {path} does not exist")
    return path


def _queue(c: _Checker, doc: Mapping[str, Any]) -> QueueConfig:
    t = c.table(doc, "queue")
    c.unknown_keys(t, _names(QueueConfig), "queue.")
    guard = c.path(t, "queue.guard_secret_path")
    if guard is not None and c.check_files and guard.is_file() and guard.stat().st_size < 16:
        c.problems.append("queue.guard_secret_path: expected a file of at least 16 random bytes")
    return QueueConfig(
        db_path=c.path(t, "queue.db_path", must_exist=False),
        guard_secret_path=guard,
    )


def _display(c: _Checker, doc: Mapping[str, Any]) -> DisplayConfig:
    t = c.table(doc, "display")
    c.unknown_keys(t, _names(DisplayConfig), "display.")
    return DisplayConfig(
        fullscreen=c.get(t, "display.fullscreen", bool, "true or false", True),
        width=c.get(
            t, "display.width", int, "pixels from 800 to 3840", 1280, lambda v: 800 <= v <= 3840
        ),
        height=c.get(
            t, "display.height", int, "pixels from 480 to 2160", 800, lambda v: 480 <= v <= 2160
        ),
        show_cursor=c.get(t, "display.show_cursor", bool, "true or false", False),
        lockdown=c.get(t, "display.lockdown", bool, "true or false", True),
        trailing_frame=c.get(t, "display.trailing_frame", bool, "true or false", False),
    )


def _speech(c: _Checker, doc: Mapping[str, Any]) -> SpeechConfig:
    t = c.table(doc, "speech")
    c.unknown_keys(t, _names(SpeechConfig), "speech.")
    d = SpeechConfig()
    flag = "true or false"
    voice_dir = c.get(t, "speech.voice_dir", str, "a folder path", "")
    cache_dir = c.get(t, "speech.cache_dir", str, "a folder path", str(d.cache_dir))
    pattern = c.get(t, "speech.jack_plugged_pattern", str, "a regular expression", "",
                    _is_regex)
    return SpeechConfig(
        enabled=c.get(t, "speech.enabled", bool, flag, d.enabled),
        cues=c.get(t, "speech.cues", bool, flag, d.cues),
        cache_dir=_relative_to(c.base_dir, cache_dir or str(d.cache_dir)),
        voice_dir=_relative_to(c.base_dir, voice_dir) if voice_dir else None,
        prebuild=c.get(t, "speech.prebuild", bool, flag, d.prebuild),
        blank_screen_in_handset=c.get(t, "speech.blank_screen_in_handset", bool, flag, False),
        handset_device=c.get(t, "speech.handset_device", str, "an ALSA device name", ""),
        jack_state_file=c.get(t, "speech.jack_state_file", str, "a file path", ""),
        jack_plugged_pattern=pattern,
    )


def _relative_to(base: Path, text: str) -> Path:
    path = Path(text)
    return path if path.is_absolute() else base / path


def _is_regex(text: str) -> bool:
    try:
        re.compile(text)
    except re.error:
        return False
    return True


_TOP_KEYS = [f.name for f in fields(KioskConfig) if f.name != "source"]


def parse_config(doc: Mapping[str, Any], source: Path, *, check_files: bool = True) -> KioskConfig:
    """Check a parsed TOML document; raise ConfigInvalid listing every problem."""
    c = _Checker(source.parent, check_files)
    c.unknown_keys(doc, _TOP_KEYS)
    kiosk_id = c.get(
        doc,
        "kiosk_id",
        str,
        "1-32 letters, digits, - or _ (the CN of the kiosk's client certificate)",
        check=lambda v: bool(_KIOSK_ID.fullmatch(v)),
    )
    language = c.get(doc, "language", str, f"a language code, one of {', '.join(LANGUAGES)}", "ja")
    if language not in LANGUAGES:  # a code the kiosk has no catalog for: named, not ignored
        c.problems.append(
            f"language: unknown language code {language!r}; the kiosk has catalogs "
            f"(kiosk/locales/<code>) for {', '.join(LANGUAGES)}"
        )
        language = None
    idle = c.number(doc, "idle_timeout_seconds", 15, 600, 90)
    countdown = c.number(doc, "countdown_seconds", 5, 60, 20)
    if idle is not None and countdown is not None and countdown >= idle:
        c.bad("countdown_seconds", "less than idle_timeout_seconds", countdown)
    cue = c.number(doc, "card_left_cue_seconds", 3, 120, 10)
    assist_factor = c.number(doc, "assist_time_factor", 1, 10, 3)
    pin_hash = c.get(
        doc,
        "staff_pin_hash",
        str,
        "a hash made by `python -m kiosk.config hash-pin` (scrypt$...)",
        check=lambda v: _parse_pin_hash(v) is not None,
    )
    sections = dict(
        store=_store(c, doc),
        card=_card(c, doc),
        printer=_printer(c, doc),
        central=_central(c, doc),
        queue=_queue(c, doc),
        display=_display(c, doc),
        speech=_speech(c, doc),
    )
    if c.problems:
        raise ConfigInvalid([f"{source.name}: {problem}" for problem in c.problems])
    return KioskConfig(
        kiosk_id=kiosk_id,
        language=language,
        idle_timeout_seconds=float(idle),
        countdown_seconds=float(countdown),
        card_left_cue_seconds=float(cue),
        assist_time_factor=float(assist_factor),
        staff_pin_hash=pin_hash,
        source=source,
        **sections,
    )


def config_path(path: str | os.PathLike[str] | None = None) -> Path:
    """The file to read: the argument, else $MYNAPOINT_CONFIG, else the default."""
    return Path(path or os.environ.get(ENV_VAR) or DEFAULT_PATH)


def load_config(
    path: str | os.PathLike[str] | None = None, *, check_files: bool = True
) -> KioskConfig:
    """Read and check the configuration file (see the module docstring)."""
    source = config_path(path)
    try:
        with source.open("rb") as f:
            doc = tomllib.load(f)
    except FileNotFoundError:
        raise ConfigInvalid(
            [f"{source}: no configuration file here; copy {EXAMPLE_PATH} and edit it"]
        ) from None
    except OSError as error:
        raise ConfigInvalid([f"{source}: cannot read ({error.strerror})"]) from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigInvalid([f"{source.name}: not valid TOML ({error})"]) from None
    return parse_config(doc, source, check_files=check_files)


def main(argv: list[str] | None = None) -> int:
    """``python -m kiosk.config check [PATH]`` or ``python -m kiosk.config hash-pin``."""
    import getpass
    import sys

    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["hash-pin"]:
        print(hash_staff_pin(getpass.getpass("staff PIN: ")))
        return 0
    if args[:1] == ["check"]:
        try:
            config = load_config(args[1] if len(args) > 1 else None)
        except ConfigInvalid as error:
            print("\n".join(error.problems), file=sys.stderr)
            return 1
        print(f"{config.source}: OK (kiosk {config.kiosk_id})")
        return 0
    print("usage: python -m kiosk.config check [PATH] | hash-pin", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
