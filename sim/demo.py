"""The demo: the kiosk with the virtual card, the virtual printer and a local central service.

``./demo`` (after ``scripts/setup.sh``) runs ``python -m sim.demo``:

* a private pcscd with the vpcd reader, the test JPKI PKI and a virtual My Number
  Card (PIN 1234), the virtual receipt printer on a pty, the reference central
  service on SQLite over mutual TLS, and the sync worker in its own process;
* with a display: the kiosk in a window; **F2** places or removes the card, and the
  payment account to type is printed in the terminal;
* without a display (``$DISPLAY`` unset): the kiosk on Xvfb with an autopilot that
  completes one enrollment as a person would (touches through Kivy's input path),
  then prints where it saved a screenshot of every screen and the receipt image.

The same :class:`KioskRig` drives the UI tests: ``python -m sim.demo drive
scenario.json`` runs the kiosk with a scripted scenario and writes a JSON report
(``tests/fixtures/screen.py`` runs it in a subprocess, one per scenario).
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sim.card import VirtualCard, make_card
from sim.pki import TestPKI
from sim.printer import VirtualPrinter
from sim.printer.line import PrinterLine

DEMO_PIN = "1234"
F2 = 283  # Kivy's key code for F2
SYNC_OPTIONS = ("--backoff-base", "0.05", "--backoff-cap", "0.5", "--idle-poll", "0.3")


# --- the devices and the configuration file ------------------------------------------------
def _toml_table(values: dict[str, Any]) -> str:
    """The lines of a flat TOML table (strings, booleans, numbers)."""
    return "\n".join(f"{key} = {json.dumps(value)}" for key, value in values.items())


class KioskRig:
    """Virtual cards and printer, the configuration file and the sync worker of one kiosk.

    ``central`` describes the central service: ``base_url``, ``ca_cert``,
    ``client_cert``, ``client_key``, ``sealing_public_pem`` (path), ``kiosk_id``.
    """

    def __init__(
        self,
        work_dir: Path,
        *,
        pki_dir: Path,
        vpcd_port: int,
        reader_name: str,
        central: dict[str, str],
        size: tuple[int, int] = (1280, 800),
        idle_timeout_seconds: float = 90,
        countdown_seconds: float = 20,
        store_name: str = "ローソン 霞が関店",
        primary_color: str = "#0B4F9C",
        staff_pin_hash: str = "",
        printer_line: bool = False,
        speech: dict[str, Any] | None = None,
        lockdown: bool = True,
    ) -> None:
        self.work_dir = Path(work_dir)
        #: The appliance's lock-down (``[display] lockdown``); off for the interactive demo,
        #: whose window a developer closes.
        self.lockdown = lockdown
        #: The ``[speech]`` table; spoken guidance is off unless asked for (the UI tests
        #: would otherwise all render prompts), on in ``./demo``.
        self.speech = {"enabled": False, "cache_dir": "speech-cache", **(speech or {})}
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.pki = TestPKI.load(Path(pki_dir))
        self.vpcd_port = vpcd_port
        self.reader_name = reader_name
        self.central = central
        self.size = size
        self.idle_timeout_seconds = idle_timeout_seconds
        self.countdown_seconds = countdown_seconds
        self.store_name = store_name
        self.primary_color = primary_color
        self.staff_pin_hash = staff_pin_hash
        self.cards: dict[str, VirtualCard] = {}
        self.printer = VirtualPrinter(self.work_dir / "receipts", columns=42)
        #: With ``printer_line``, the cable to the printer can keep it busy (sim/printer/line.py).
        self.line: PrinterLine | None = None
        self._wants_line = printer_line
        self.config_path = self.work_dir / "kiosk.toml"
        self._sync: subprocess.Popen[bytes] | None = None

    def start(self) -> KioskRig:
        self.printer.start()
        if self._wants_line:
            self.line = PrinterLine(self.printer.port or "")
            self.line.start()
        self.write_config()
        env = {**os.environ, "MYNAPOINT_CONFIG": str(self.config_path)}
        log = (self.work_dir / "sync.log").open("ab")
        self._sync = subprocess.Popen(
            [sys.executable, "-m", "kiosk.appliance", "sync", *SYNC_OPTIONS],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=_end_with_parent,
        )
        log.close()
        return self

    def stop(self) -> None:
        for card in self.cards.values():
            card.remove()
        if self._sync is not None and self._sync.poll() is None:
            self._sync.terminate()
            try:
                self._sync.wait(10)
            except subprocess.TimeoutExpired:
                self._sync.kill()
        if self.line is not None:
            self.line.stop()
        self.printer.stop()

    def write_config(self) -> None:
        from kiosk.config import hash_staff_pin

        (self.work_dir / "jpki-ca.pem").write_bytes(self.pki.trusted_ca_pem())
        guard = self.work_dir / "guard.secret"
        if not guard.exists():
            guard.write_bytes(secrets.token_bytes(32))
        central = self.central
        pin_hash = self.staff_pin_hash or hash_staff_pin("2580")
        self.config_path.write_text(
            f'''kiosk_id = "{central["kiosk_id"]}"
language = "ja"
idle_timeout_seconds = {self.idle_timeout_seconds}
countdown_seconds = {self.countdown_seconds}
card_left_cue_seconds = 3
staff_pin_hash = "{pin_hash}"

[store]
name = "{self.store_name}"
primary_color = "{self.primary_color}"
accent_color = "#E66100"
background_color = "#FFFFFF"
text_color = "#000000"

[card]
reader_pattern = "{self.reader_name}"
transceive_timeout = 3.0
trusted_ca_bundle = "jpki-ca.pem"

[printer]
port = "{self.printer_port}"
mode = "kanji"
columns = 42

[central]
base_url = "{central["base_url"]}"
ca_cert = "{central["ca_cert"]}"
client_cert = "{central["client_cert"]}"
client_key = "{central["client_key"]}"
sealing_public_keys = ["{central["sealing_public_pem"]}"]
status_url = "https://central.example/status?receipt={{receipt_no}}"
timeout = 3.0
submit_wait_seconds = 3.0

[queue]
db_path = "queue.sqlite3"
guard_secret_path = "guard.secret"

[display]
fullscreen = false
width = {self.size[0]}
height = {self.size[1]}
show_cursor = true
lockdown = {"true" if self.lockdown else "false"}

[speech]
{_toml_table(self.speech)}
''',
            encoding="utf-8",
        )

    @property
    def printer_port(self) -> str | None:
        """The port the kiosk prints to: the printer's, or the line's in front of it."""
        return self.line.port if self.line is not None else self.printer.port

    # the person's hands
    def make_card(
        self,
        name: str,
        *,
        expired: bool = False,
        pin: str = DEMO_PIN,
        delays: dict[str, float] | None = None,
    ) -> VirtualCard:
        """A new virtual card; ``delays`` (seconds per ``read``, ``sign``...) as a real one."""
        card_dir = make_card(
            self.pki.directory,
            self.work_dir / f"card-{name}",
            expired=expired,
            pin=pin,
            pki=self.pki,
        )
        self.cards[name] = VirtualCard(card_dir, port=self.vpcd_port, delays=delays)
        return self.cards[name]

    def insert_card(self, name: str = "card") -> None:
        self.cards[name].insert(wait=0)  # the reader reports it; the UI thread never waits

    def remove_card(self, name: str = "card") -> None:
        self.cards[name].remove()

    def toggle_card(self, name: str = "card") -> None:
        card = self.cards[name]
        card.remove() if card.inserted else card.insert(wait=0)

    def set_paper(self, state: str) -> None:
        self.printer.paper = state

    def hold_printer(self) -> None:
        """The printer keeps printing: the next receipt is not reported done (needs the line)."""
        if self.line is None:
            raise RuntimeError("the printer can be held busy only with printer_line=True")
        self.line.hold()

    def release_printer(self) -> None:
        if self.line is not None:
            self.line.release()


def _end_with_parent() -> None:
    """In the child before exec: SIGTERM when the kiosk process dies, however it dies."""
    import ctypes
    import signal

    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


# --- running the kiosk ------------------------------------------------------------------------
def run_kiosk(
    rig: KioskRig,
    script: list[list[Any]] | None = None,
    out_dir: Path | None = None,
    on_report: Callable[[dict[str, Any]], None] | None = None,
) -> int:
    """Run the kiosk app on this process's display; with ``script``, the autopilot drives it."""
    from kiosk.config import load_config
    from screens.app import UiSettings, build_engine, configure_kivy, register_fonts

    config = load_config(rig.config_path)
    settings = UiSettings.from_config(config)
    configure_kivy(settings)
    register_fonts()
    from kivy.clock import Clock

    from screens.app import KioskApp

    engine = build_engine(config, keys={F2: rig.toggle_card}, staff_gate=settings.staff_gate)
    app = KioskApp(settings, engine)
    if script is not None:
        from sim.autopilot import Autopilot

        hooks = {
            "insert_card": rig.insert_card,
            "remove_card": rig.remove_card,
            "paper": rig.set_paper,
            "printer_busy": rig.hold_printer,
            "printer_free": rig.release_printer,
        }

        def finish(report: dict[str, Any]) -> None:
            from screens import sound

            report["spoken"] = list(app.speaker.spoken) if app.speaker is not None else []
            report["read_backs"] = list(app.speaker.read_backs) if app.speaker is not None else []
            report["cues"] = list(sound.played)
            if on_report is not None:
                on_report(report)
            app.stop()

        pilot = Autopilot(app, script, out_dir or rig.work_dir / "screens", hooks, finish)
        Clock.schedule_once(lambda _dt: pilot.start(), 0)
    app.run()
    return 0


#: A virtual card as slow as a contactless one, so reading and signing are seen on screen.
SLOW_CARD = {"read": 0.25, "sign": 1.2}


def start_and_place_card(
    card: str = "card", shots: bool = True, slow_card: bool = False
) -> list[list[Any]]:
    """Welcome → notes → place card (the card goes in) → the service grid.

    ``slow_card``: the card is a :data:`SLOW_CARD`, so the reading screen is caught.
    """
    reading = [["wait", "reading_card"], ["shot", "04_reading_card"]] if slow_card else []
    return _steps(
        shots,
        ["wait", "welcome"],
        ["shot", "01_welcome"],
        ["tap", "start_apply"],
        ["wait", "notes"],
        ["shot", "02_notes"],
        ["tap", "agree"],
        ["wait", "place_card"],
        ["shot", "03_place_card"],
        ["hook", "insert_card", card],
        *reading,
        ["wait", "choose_service", 30],
        ["shot", "05_choose_service"],
    )


def choose_and_enter(account: tuple[str, str, list[str]], shots: bool = True) -> list[list[Any]]:
    """Choose the service, type the 決済サービスID and each セキュリティコード."""
    service, user_id, codes = account
    steps = [
        ["tap", f"service:{service}"],
        ["wait", "enter_ids"],
        ["type", user_id],
        ["shot", "06_enter_ids"],
        ["tap", "next"],
    ]
    for code in codes:
        steps += [["type", code], ["shot", "07_enter_security_code"], ["tap", "next"]]
    return _steps(shots, *steps, ["wait", "confirm"], ["shot", "08_confirm"])


def confirm_and_pin(
    pin: str = DEMO_PIN, shots: bool = True, slow_card: bool = False
) -> list[list[Any]]:
    """Confirm (the choice is final), then the PIN on the keypad."""
    signing = [["wait", "processing"], ["shot", "10_processing"]] if slow_card else []
    return _steps(
        shots,
        ["tap", "confirm"],
        ["wait", "pin"],
        ["pin", pin[:2], False],
        ["shot", "09_pin"],
        ["pin", pin[2:]],
        *signing,
    )


def finish_and_take_card(card: str = "card", shots: bool = True) -> list[list[Any]]:
    """Result → receipt → take the card → welcome."""
    return _steps(
        shots,
        ["wait", "result", 40],
        ["shot", "11_result"],
        ["tap", "done"],
        ["wait", "take_card", 40],
        ["shot", "13_take_card"],
        ["hook", "remove_card", card],
        ["wait", "welcome"],
    )


def enrollment_script(
    account: tuple[str, str, list[str]],
    pin: str = DEMO_PIN,
    card: str = "card",
    shots: bool = True,
    slow_card: bool = False,
) -> list[list[Any]]:
    """One whole enrollment as a person does it, with a screenshot of every screen."""
    return (
        start_and_place_card(card, shots, slow_card)
        + choose_and_enter(account, shots)
        + confirm_and_pin(pin, shots, slow_card)
        + finish_and_take_card(card, shots)
    )


def _steps(shots: bool, *steps: list[Any]) -> list[list[Any]]:
    return [list(step) for step in steps if shots or step[0] != "shot"]


# --- the UI tests' entry: one scenario in this process ------------------------------------
#: The product's loggers: their lines (kinds, receipt numbers, never a person's data) go
#: to a driven kiosk's stderr, the UI tests' kiosk.log, for a post-mortem.
PRODUCT_LOGGERS = ("mynapoint", "kiosk", "drivers", "offline_queue", "screens")


def drive(scenario_path: Path) -> int:
    """``python -m sim.demo drive scenario.json``: run a scenario, write ``report.json``."""
    import logging

    handler = logging.StreamHandler(sys.__stderr__)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    for name in PRODUCT_LOGGERS:
        logging.getLogger(name).addHandler(handler)
        logging.getLogger(name).setLevel(logging.INFO)
    scenario = json.loads(Path(scenario_path).read_text(encoding="utf-8"))
    out_dir = Path(scenario["out_dir"])
    rig = KioskRig(
        Path(scenario["work_dir"]),
        pki_dir=Path(scenario["pki_dir"]),
        vpcd_port=scenario["vpcd_port"],
        reader_name=scenario["reader_name"],
        central=scenario["central"],
        size=tuple(scenario.get("size", (1280, 800))),
        idle_timeout_seconds=scenario.get("idle_timeout_seconds", 90),
        countdown_seconds=scenario.get("countdown_seconds", 20),
        printer_line=scenario.get("printer_line", False),
        speech=scenario.get("speech"),
    )
    for name, options in scenario.get("cards", {}).items():
        rig.make_card(name, **options)
    report: dict[str, Any] = {"error": "the kiosk did not start"}
    try:
        rig.start()
        run_kiosk(rig, scenario["script"], out_dir, report.update)
        report["receipts"] = _printed_receipts(rig, out_dir)
    except Exception as error:  # the report says why, the test shows it
        report["error"] = f"{type(error).__name__}: {error}"
    finally:
        rig.stop()
    (out_dir / "report.json").write_text(
        json.dumps(report, ensure_ascii=False, indent=1, default=str), encoding="utf-8"
    )
    return 0 if report.get("error") is None else 1


def _printed_receipts(rig: KioskRig, out_dir: Path) -> list[dict[str, Any]]:
    rig.printer.wait_for_pictures()
    printed = []
    for number, receipt in enumerate(rig.printer.receipts, 1):
        path = out_dir / f"receipt-{number}.png"
        if receipt.png is not None and Path(receipt.png).exists():
            path.write_bytes(Path(receipt.png).read_bytes())
        elif receipt.images:
            receipt.images[0].save(path)
        else:
            path = None
        printed.append({"text": receipt.text, "qr": receipt.qr_payloads, "image": str(path or "")})
    return printed


# --- ./demo ------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["drive"]:
        return drive(Path(argv[1]))
    from kiosk.catalog import CAMPAIGNS_FILE, SERVICES_FILE
    from sim.central import start_central
    from sim.display import VirtualDisplay, kivy_environment
    from sim.pcscd import PrivatePcscd

    if os.geteuid() != 0:
        print("./demo needs root: pcscd runs in a private mount namespace", file=sys.stderr)
        return 1
    base = Path(tempfile.mkdtemp(prefix="mynapoint-demo-"))
    headless = not os.environ.get("DISPLAY")
    os.environ.update(kivy_environment(base / "kivy"))
    display = VirtualDisplay(1280, 800).start() if headless else None
    if display is not None:
        os.environ["DISPLAY"] = display.display or ""
    pki = TestPKI.create(base / "pki")
    pcscd = PrivatePcscd(base / "pcscd")
    os.environ["PCSCLITE_CSOCK_NAME"] = str(pcscd.socket_path)
    pcscd.start()
    central = start_central(
        base, pki=pki, services_file=SERVICES_FILE, campaigns_file=CAMPAIGNS_FILE
    )
    rig: KioskRig | None = None
    try:
        account = central.new_account("waon")
        (base / "sealing.pem").write_bytes(central.sealing_public_pem)
        rig = KioskRig(
            base / "kiosk",
            pki_dir=pki.directory,
            vpcd_port=pcscd.port,
            reader_name=pcscd.reader_name,
            central={
                "base_url": central.base_url,
                "ca_cert": str(central.ca_cert),
                "client_cert": str(central.client_cert),
                "client_key": str(central.client_key),
                "sealing_public_pem": str(base / "sealing.pem"),
                "kiosk_id": central.kiosk_id,
            },
            speech={"enabled": True},  # 音声案内 on, as on the appliance
            lockdown=headless,  # a developer closes the demo's window
        )
        rig.make_card("card", delays=SLOW_CARD)
        rig.start()
        return _run_demo(rig, account, headless, base)
    finally:
        if rig is not None:
            rig.stop()
        central.stop()
        pcscd.stop()
        if display is not None:
            display.stop()


def _run_demo(
    rig: KioskRig, account: tuple[str, str, list[str]], headless: bool, base: Path
) -> int:
    service, user_id, codes = account
    if not headless:
        print(
            f"Kiosk window open. F2 places/removes the virtual card (PIN {DEMO_PIN}).\n"
            f"Choose {service.upper()}; 決済サービスID {user_id}; "
            f"セキュリティコード {' '.join(codes)}"
        )
        return run_kiosk(rig)
    shots = base / "screens"
    report: dict[str, Any] = {}
    started = time.monotonic()
    run_kiosk(rig, enrollment_script(account, slow_card=True), shots, report.update)
    receipts = _printed_receipts(rig, shots)
    if report.get("error"):
        print(f"autopilot stopped: {report['error']}", file=sys.stderr)
        return 1
    print(f"One enrollment completed by the autopilot in {time.monotonic() - started:.0f} s.")
    print(f"Screenshots of every screen: {shots}/")
    for path in sorted(shots.glob("[0-9]*.png")):
        print(f"  {path.name}")
    for receipt in receipts:
        print(f"Receipt image: {receipt['image']}")
        print("Receipt text:\n  " + "\n  ".join(receipt["text"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
