"""Boot the arm64 appliance image under qemu-system-aarch64 and check it from the host.

Run by ``scripts/check-image.sh`` (as root, with the project's venv); see that script and
docs/appliance.md, "Checking the image". Every figure and verdict goes to stdout and to
``WORK/report.json``; screenshots to ``WORK/shots/`` (and the welcome and result screens
to docs/screenshots/ with ``--screenshots``).

The world around the VM is the project's own simulated one, on the host: the reference
central service (mutual TLS, its server certificate also naming 10.0.2.2, the host as
the VM sees it), the virtual receipt printer on TCP, and virtual My Number Cards that
connect to the VM's vpcd reader through a port forward bound to 127.0.0.1.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import re
import shutil
import sqlite3
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from image.vm import VM, difference  # noqa: E402
from kiosk.catalog import CAMPAIGNS_FILE, SERVICES_FILE  # noqa: E402
from sim.appliance import _toml, filled_in, template  # noqa: E402
from sim.card import VirtualCard, make_card  # noqa: E402
from sim.central import CentralService, free_port, prepare_central  # noqa: E402
from sim.demo import DEMO_PIN  # noqa: E402
from sim.printer.pty import VirtualPrinter  # noqa: E402

KEYS_IN_VM = "/etc/mynapoint-kiosk/keys"
QUEUE_IN_VM = "/var/lib/mynapoint-kiosk/queue.sqlite3"
#: Where a finger taps (1280x800): the WAON tile on the service grid (docs/screenshots/05).
WAON_TILE = (484, 372)
#: Share of the screen a typed digit (or a PIN dot) changes, at least: one glyph.
DIGIT_ECHO = 0.0001
#: Seconds between two looks at a screen that must have stopped changing. Under TCG a
#: screen transition runs at a frame a second or slower: 1 s saw mid-transition frames.
SETTLE_S = 2.5
FAST_TYPING_GAP_S = 0.3  # between digits with fast_typing: a quick typist
FAST_TYPING_BURST = 3  # digits, 18 input events: well inside evdev's 64 (type_digits)
STILL_S = 10.0  # before a key combination whose effect is "nothing": the screen done
ENQUEUED = re.compile(r"enrollment_enqueued receipt_no=(\S+)")


def log(message: str) -> None:
    print(f"check-image: {time.strftime('%H:%M:%S')} {message}", flush=True)


class World:
    """Central service, printer and cards on the host; the site's kiosk.toml and keys."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.central: CentralService = prepare_central(
            work / "central", services_file=SERVICES_FILE, campaigns_file=CAMPAIGNS_FILE
        )
        # The VM reaches the host's loopback as 10.0.2.2: the server certificate names it.
        self.central.tls._issue_server(("127.0.0.1", "localhost", "10.0.2.2"))
        self.central.start()
        self.printer = VirtualPrinter(work / "receipts", link="tcp", tcp_port=0)
        self.printer_address = self.printer.start()
        self.cards = 0

    def config_dir(self) -> Path:
        """/etc/mynapoint-kiosk as the site installs it (no guard.secret: first boot's)."""
        etc = self.work / "etc-mynapoint-kiosk"
        keys = etc / "keys"
        keys.mkdir(parents=True, exist_ok=True)
        central = self.central
        shutil.copyfile(central.ca_cert, keys / "central-ca.pem")
        shutil.copyfile(central.client_cert, keys / "kiosk.crt")
        shutil.copyfile(central.client_key, keys / "kiosk.key")
        (keys / "sealing.pub.pem").write_bytes(central.sealing_public_pem)
        (keys / "jpki-ca.pem").write_bytes(central.pki.trusted_ca_pem())
        port = self.printer_address.rsplit(":", 1)[1]
        doc = filled_in(template())
        doc["kiosk_id"] = central.kiosk_id
        doc["card"]["reader_pattern"] = "Virtual PCD*"
        doc["printer"].pop("port", None)  # a network printer has a host, never a port key
        doc["printer"].update(transport="network", host=f"10.0.2.2:{port}")
        doc["central"].update(
            base_url=f"https://10.0.2.2:{central.port}",
            status_url=f"https://10.0.2.2:{central.port}/status?r={{receipt_no}}",
        )
        # No sound card in the VM, and speech synthesis under emulation would be most of
        # the CPU: off for the check (docs/appliance.md says so).
        doc["speech"].update(enabled=False, prebuild=False)
        # virtio-gpu here shows each frame once the next is drawn: without one more frame
        # the last of every change stays off the screen (docs/appliance.md).
        doc["display"]["trailing_frame"] = True
        (etc / "kiosk.toml").write_text(_toml(doc), encoding="utf-8")
        return etc

    def new_card(self, port: int) -> VirtualCard:
        self.cards += 1
        card_dir = make_card(
            self.central.pki.directory,
            self.work / f"card-{self.cards}",
            pin=DEMO_PIN,
            pki=self.central.pki,
        )
        return VirtualCard(card_dir, port=port, host="127.0.0.1", netns=None)

    def delivered(self) -> dict[str, int]:
        """receipt_no -> how many times the central service holds it."""
        db = sqlite3.connect(self.central.database_file)
        try:
            return dict(
                db.execute("SELECT receipt_no, count(*) FROM enrollments GROUP BY receipt_no")
            )
        finally:
            db.close()

    def heartbeat_seen(self) -> bool:
        db = sqlite3.connect(self.central.database_file)
        try:
            return bool(
                db.execute(
                    "SELECT count(*) FROM kiosks WHERE kiosk_id = ?", (self.central.kiosk_id,)
                ).fetchone()[0]
            )
        finally:
            db.close()

    def stop(self) -> None:
        self.central.stop()
        self.printer.stop()


def partition_offsets(image: Path) -> dict[str, tuple[int, int]]:
    table = json.loads(subprocess.check_output(["sfdisk", "--json", str(image)]))["partitiontable"]
    sector = table.get("sectorsize", 512)
    return {p["name"]: (p["start"] * sector, p["size"] * sector) for p in table["partitions"]}


def data_partition_label(fstab: Path) -> str:
    """The data partition's label, as the image's /etc/fstab mounts it on /data."""
    for line in fstab.read_text().splitlines():
        fields = line.split()
        if fields[1:2] == ["/data"] and fields[0].startswith("LABEL="):
            return fields[0].removeprefix("LABEL=")
    raise ValueError(f"{fstab}: no LABEL= line for /data")


def provision(image: Path, out: Path, skeleton: Path, config: Path, label: str) -> None:
    """A copy of the image whose data partition holds the site's configuration.

    The site's /etc/mynapoint-kiosk is the data partition's ``config/`` (bound there by
    the appliance fstab), as a site would write it before the kiosk's first boot.
    """
    subprocess.run(["cp", "--sparse=always", str(image), str(out)], check=True)
    start, size = partition_offsets(out)["data"]
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        data.mkdir()
        with tarfile.open(skeleton) as tar:
            tar.extractall(data, numeric_owner=True)  # noqa: S202 - our own build output
        shutil.copytree(config, data / "config", dirs_exist_ok=True)
        fs = Path(tmp) / "data.img"
        subprocess.run(
            [
                "mkfs.ext4",
                "-q",
                "-F",
                "-L",
                label,
                "-d",
                str(data),
                "-E",
                "root_owner=0:0",
                str(fs),
                f"{size // 1048576}M",
            ],
            check=True,
        )
        subprocess.run(
            [
                "dd",
                f"if={fs}",
                f"of={out}",
                "bs=1M",
                f"seek={start // 1048576}",
                "conv=notrunc,sparse",
                "status=none",
            ],
            check=True,
        )


class Kiosk:
    """The kiosk in the VM, as a person and as the host see it."""

    def __init__(self, vm: VM, world: World, shots: Path) -> None:
        self.vm, self.world, self.shots = vm, world, shots
        self.shot_no = 0
        self.card: VirtualCard | None = None
        self.seen: list[str] = []  # receipts whose enqueue the host saw before any cut
        self.fast_typing = False  # see type_digits

    def shot(self, name: str) -> Any:
        self.shot_no += 1
        return self.vm.screenshot(self.shots / f"{self.vm.boots:02d}-{self.shot_no:03d}-{name}.png")

    def active(self) -> dict[str, str]:
        code, out = self.vm.run("/bin/systemctl", "is-active", "mynapoint-kiosk", "mynapoint-sync")
        states = out.split()
        return dict(zip(("mynapoint-kiosk", "mynapoint-sync"), states + ["?", "?"], strict=False))

    def wait_ready(self, timeout: float) -> float:
        """Seconds from qemu's start until both units are active (kiosk: its first frame)."""
        if not self.vm.agent_up(timeout):
            raise TimeoutError("the guest agent never answered")
        deadline = self.vm.started_at + timeout
        failed_since = None
        while time.monotonic() < deadline:
            states = self.active()
            if set(states.values()) == {"active"}:
                return time.monotonic() - self.vm.started_at
            # A unit that keeps failing will not come up by waiting: say why, early.
            if "failed" in states.values() or "activating" not in states.values():
                failed_since = failed_since or time.monotonic()
                if time.monotonic() - failed_since > 120:
                    break
            else:
                failed_since = None
            time.sleep(1)
        log(f"units not active: {self.active()}; the VM's own account:\n{self.diagnose()}")
        raise TimeoutError(f"units not active after {time.monotonic() - self.vm.started_at:.0f} s")

    def on_display(self) -> None:
        """Until the kiosk's screen is on the display. READY follows the kiosk's second
        frame, which reaches the scanout (the first after SDL's mode set did not, and the
        display stayed black: screens/clock.py); a black screen here is that again."""
        console = self.vm.screenshot()
        lit = sum(console.convert("L").histogram()[40:]) / (console.width * console.height)
        if lit < 0.01:  # the console's black, a cursor at most
            self.wait_change(console, timeout=300)

    def status_text(self) -> str:
        """The kiosk unit's STATUS= (its screen: welcome, maintenance, ...)."""
        _, out = self.vm.run(
            "/bin/systemctl", "show", "-p", "StatusText", "--value", "mynapoint-kiosk"
        )
        return out.strip()

    def wait_kiosk(self, timeout: float) -> str:
        """The kiosk unit alone active (the sync worker may not be): its STATUS=."""
        if not self.vm.agent_up(timeout):
            raise TimeoutError("the guest agent never answered")
        deadline = self.vm.started_at + timeout
        while time.monotonic() < deadline:
            if self.active()["mynapoint-kiosk"] == "active":
                return self.status_text()
            time.sleep(1)
        log(f"kiosk not active; the VM's own account:\n{self.diagnose()}")
        raise TimeoutError("the kiosk unit did not become active")

    def diagnose(self) -> str:
        """Failed units and the kiosk's and sync worker's last journal lines (no secrets:
        the units log event names and error kinds only)."""
        _, out = self.vm.run(
            "/bin/sh",
            "-c",
            "systemctl --failed --no-pager; journalctl -b -q --no-pager -o short-monotonic"
            " -u mynapoint-kiosk -u mynapoint-sync -u mynapoint-firstboot -u systemd-logind"
            " | tail -n 60",
            timeout=120,
        )
        return out

    def kiosk_start_to_ready(self) -> float:
        """systemd's own clock: kiosk process started -> READY=1 (its first drawn frame)."""
        _, out = self.vm.run(
            "/bin/systemctl",
            "show",
            "mynapoint-kiosk",
            "-p",
            "ExecMainStartTimestampMonotonic",
            "-p",
            "ActiveEnterTimestampMonotonic",
        )
        values = dict(line.split("=", 1) for line in out.split())
        return (
            int(values["ActiveEnterTimestampMonotonic"])
            - int(values["ExecMainStartTimestampMonotonic"])
        ) / 1e6

    def rss_kib(self) -> int:
        _, pid = self.vm.run(
            "/bin/systemctl", "show", "-p", "MainPID", "--value", "mynapoint-kiosk"
        )
        _, status = self.vm.run("/bin/cat", f"/proc/{pid.strip()}/status")
        return int(re.search(r"VmRSS:\s+(\d+)", status).group(1))

    def journal_receipts(self) -> list[str]:
        _, out = self.vm.run(
            "/bin/journalctl", "-q", "-o", "cat", "--no-pager", "-u", "mynapoint-kiosk", timeout=120
        )
        return ENQUEUED.findall(out)

    def wait_change(self, before: Any, timeout: float = 90, settle: float = SETTLE_S) -> Any:
        """The next screen, once it has stopped changing (screen-level: nothing in the VM tells)."""
        deadline = time.monotonic() + timeout
        current = before
        while time.monotonic() < deadline:
            time.sleep(settle)
            current = self.vm.screenshot()
            if difference(before, current) > 0.02:
                break
        else:
            raise TimeoutError("the screen did not change")
        while time.monotonic() < deadline:
            time.sleep(settle)
            again = self.vm.screenshot()
            if difference(current, again) < 0.002:
                return again
            current = again
        return current

    def still(self, quiet: float = STILL_S, timeout: float = 180) -> Any:
        """The screen once it has not changed for ``quiet`` seconds. Under TCG one frame
        can take seconds, and a label's text comes a frame after its screen (Kivy makes
        the texture on the next tick): a screen 2.5 s still may not be finished."""
        deadline = time.monotonic() + timeout
        current, since = self.vm.screenshot(), time.monotonic()
        while time.monotonic() < deadline:
            time.sleep(1)
            again = self.vm.screenshot()
            if difference(current, again) >= 0.002:
                current, since = again, time.monotonic()
            elif time.monotonic() - since >= quiet:
                return current
        raise TimeoutError(f"the screen never stayed still for {quiet:.0f} s")

    def type_digits(self, digits: str, timeout: float = 30) -> None:
        """Each digit once the screen has shown the one before (a digit or a PIN dot).

        Under emulation a frame takes seconds, and the kiosk reads input only between
        frames, and keys sent far ahead of the frames were dropped: 9 of a 16-digit ID
        arrived at one key per 0.4 s (most likely the kernel's evdev buffer for the
        kiosk overflowing: 64 events, about 10 keys; not confirmed in the VM).
        So by default each digit waits for its echo; with
        ``fast_typing`` (the power cuts, the RSS sessions) they go in bursts of
        FAST_TYPING_BURST, each burst waiting for an echo. A real Pi draws a frame in tens
        of milliseconds: no person types ten keys inside one.
        """
        if self.fast_typing:
            for at in range(0, len(digits), FAST_TYPING_BURST):
                before = self.vm.screenshot()
                for digit in digits[at : at + FAST_TYPING_BURST]:
                    self.vm.keys(digit)
                    time.sleep(FAST_TYPING_GAP_S)
                deadline = time.monotonic() + timeout
                while difference(before, self.vm.screenshot()) < DIGIT_ECHO:
                    if time.monotonic() > deadline:
                        raise TimeoutError("digits typed did not show on the screen")
                    time.sleep(0.3)
            self.still(quiet=SETTLE_S)
            return
        for digit in digits:
            before = self.vm.screenshot()
            self.vm.keys(digit)
            deadline = time.monotonic() + timeout
            while difference(before, self.vm.screenshot()) < DIGIT_ECHO:
                if time.monotonic() > deadline:
                    raise TimeoutError("a digit typed did not show on the screen")
                time.sleep(0.3)

    def press(self, *keys: str, timeout: float = 90) -> Any:
        before = self.vm.screenshot()
        self.vm.keys(*keys)
        return self.wait_change(before, timeout)

    def enroll(self, *, until: str = "done", on_pin: Any = None) -> str | None:
        """One whole enrollment as a person does it: keys, one touch, the card.

        ``until="pin"`` stops right after the PIN is sent (for a power cut); returns the
        receipt number the kiosk logged as enqueued, when the host saw it.
        """
        service, user_id, codes = self.world.central.new_account("waon")
        # From the welcome as the display shows it, finished: after a boot the display
        # can still be black for seconds past READY, and a "before" taken then made each
        # screenshot one screen late, so the tile's tap landed on the wrong screen.
        self.on_display()
        self.still(quiet=SETTLE_S)
        screen = self.press("enter")  # welcome -> notes
        self.shot("notes")
        screen = self.press("enter")  # agree -> place card
        self.shot("place_card")
        self.card = self.world.new_card(self.vm.vpcd_host_port)
        before = screen
        self.card.insert(wait=10)
        screen = self.wait_change(before, timeout=120)  # card read -> service grid
        self.shot("choose_service")
        before = screen
        self.vm.tap(*WAON_TILE)
        screen = self.wait_change(before)
        self.shot("enter_ids")
        self.type_digits(user_id)
        screen = self.press("enter")
        for code in codes:
            self.type_digits(code)
            screen = self.press("enter")
        self.shot("confirm")
        screen = self.press("enter")  # confirm -> PIN
        self.shot("pin")
        known = set(self.journal_receipts())
        self.type_digits(DEMO_PIN)
        self.vm.keys("enter")
        if on_pin is not None:
            on_pin()
            return None
        receipt = None
        deadline = time.monotonic() + 180
        while receipt is None and time.monotonic() < deadline:
            fresh = [r for r in self.journal_receipts() if r not in known]
            receipt = fresh[0] if fresh else None
            time.sleep(1)
        if receipt is None:
            self.shot("no_result")
            raise TimeoutError("no enrollment_enqueued after the PIN")
        self.seen.append(receipt)
        screen = self.wait_change(screen, timeout=120)
        self.shot("result")
        if until == "result":
            return receipt
        screen = self.press("enter")  # done -> take your card
        self.shot("take_card")
        self.card.remove()
        self.wait_change(screen, timeout=60)
        self.shot("welcome_again")
        return receipt


def boot(vm: VM, kiosk: Kiosk, report: dict[str, Any], label: str, timeout: float = 600) -> float:
    vm.start()
    seconds = kiosk.wait_ready(timeout)
    report.setdefault("boots", []).append({"label": label, "boot_to_ready_s": round(seconds, 1)})
    log(f"boot {vm.boots} ({label}): both units active {seconds:.0f} s after qemu started")
    return seconds


def check_basic(
    vm: VM, kiosk: Kiosk, world: World, report: dict[str, Any], screenshots: Path | None
) -> None:
    seconds = boot(vm, kiosk, report, "first boot")
    report["first_boot_to_ready_s"] = round(seconds, 1)
    report["kiosk_start_to_first_frame_s"] = round(kiosk.kiosk_start_to_ready(), 2)
    _, secret = vm.run(
        "/bin/sh",
        "-c",
        f"stat -c '%U:%G %a %s' {KEYS_IN_VM}/guard.secret; "
        "findmnt -n -o OPTIONS /; findmnt -n -o SOURCE,OPTIONS /data; cat /etc/machine-id",
    )
    report["first_boot"] = secret.strip().splitlines()
    log(f"first boot: {report['first_boot']}")
    # READY comes with the first frame the kiosk drew; under TCG the scanout qemu shows
    # can still be the console's for a while after it: wait for the welcome screen
    # itself (the screen no longer black), and say how long that took.
    ready_at = time.monotonic()
    kiosk.on_display()
    report["ready_to_welcome_on_screen_s"] = round(time.monotonic() - ready_at, 1)
    log(f"welcome screen on the display {report['ready_to_welcome_on_screen_s']} s after READY")
    welcome = kiosk.shot("welcome")
    if screenshots:
        welcome.save(screenshots / "arm64_welcome.png")
    receipt = kiosk.enroll(until="result")
    if screenshots:
        vm.screenshot(screenshots / "arm64_result.png")
    screen = kiosk.press("enter")
    kiosk.card.remove()
    kiosk.wait_change(screen, timeout=60)
    report["enrollment_receipt"] = receipt
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and receipt not in world.delivered():
        time.sleep(2)
    report["enrollment_delivered"] = receipt in world.delivered()
    deadline = time.monotonic() + 150
    while time.monotonic() < deadline and not world.heartbeat_seen():
        time.sleep(3)
    report["heartbeat_seen"] = world.heartbeat_seen()
    report["rss_after_1_session_kib"] = kiosk.rss_kib()
    log(
        f"enrollment {receipt}: delivered={report['enrollment_delivered']} "
        f"heartbeat={report['heartbeat_seen']}"
    )


ESCAPES = [
    ("ctrl-alt-f2", ("ctrl", "alt", "f2")),
    ("ctrl-alt-f1", ("ctrl", "alt", "f1")),
    ("alt-f4", ("alt", "f4")),
    ("ctrl-c", ("ctrl", "c")),
    ("alt-sysrq-b", ("alt", "sysrq", "b")),
    ("alt-sysrq-s", ("alt", "sysrq", "s")),
    ("ctrl-alt-delete", ("ctrl", "alt", "delete")),
    ("esc", ("esc",)),
]


def check_keys(vm: VM, kiosk: Kiosk, report: dict[str, Any]) -> None:
    """Each escape combination on the welcome screen and on the notes screen."""
    results = []
    for where in ("welcome", "notes"):
        if where == "notes":
            kiosk.press("enter")
        for name, combo in ESCAPES:
            if where == "notes" and name == "esc":
                continue  # Escape is the keypad's Cancel (kiosk/keypad.py): it ends the session
            before = kiosk.still()
            pid_before = vm.run(
                "/bin/systemctl", "show", "-p", "MainPID", "--value", "mynapoint-kiosk"
            )[1].strip()
            vm.keys(*combo)
            kiosk.still()  # what the keys did, once done (a frame can take seconds)
            after = kiosk.shot(f"key-{where}-{name}")
            pid_after = vm.run(
                "/bin/systemctl", "show", "-p", "MainPID", "--value", "mynapoint-kiosk"
            )[1].strip()
            changed = difference(before, after)
            ok = changed < 0.01 and pid_before == pid_after and vm.alive()
            results.append(
                {
                    "screen": where,
                    "keys": name,
                    "pixels_changed": round(changed, 4),
                    "same_process": pid_before == pid_after,
                    "ok": ok,
                }
            )
            log(f"keys {name} on {where}: {'same screen' if ok else 'CHANGED'} ({changed:.2%})")
    # Escape on the notes screen: Cancel, back to the welcome screen, by design.
    kiosk.press("esc")
    kiosk.shot("key-notes-esc")
    report["keys"] = results


def check_sessions(vm: VM, kiosk: Kiosk, report: dict[str, Any], sessions: int) -> None:
    rss: dict[int, int] = {}
    kiosk.fast_typing = True
    for n in range(1, sessions + 1):
        kiosk.enroll()
        if n in (1, 10, 30, 100, 300, sessions):
            rss[n] = kiosk.rss_kib()
            log(f"after {n} sessions: kiosk RSS {rss[n] / 1024:.1f} MiB")
    report["rss_kib_after_sessions"] = rss


def check_power_cuts(
    vm: VM, kiosk: Kiosk, world: World, report: dict[str, Any], cuts: int, seed: int
) -> None:
    rng = random.Random(seed)
    kiosk.fast_typing = True  # the first enrollment (check_basic) waited for every echo
    phases = ["enqueue", "sync", "boot"]
    counts = {p: 0 for p in phases}
    log_rows = []
    for n in range(1, cuts + 1):
        phase = phases[(n - 1) % 3] if n <= 3 else rng.choice(phases)
        counts[phase] += 1
        if phase == "boot":
            vm.kill()
            vm.start()
            delay = rng.uniform(3, 60)
            time.sleep(delay)
            detail = f"{delay:.1f} s after power on"
        elif phase == "enqueue":
            delay = rng.uniform(0, 8)
            kiosk.enroll(on_pin=lambda d=delay: time.sleep(d))
            seen_now = [r for r in kiosk.journal_receipts() if r not in kiosk.seen]
            kiosk.seen.extend(seen_now)
            detail = f"{delay:.1f} s after the PIN's Enter (enqueued seen: {bool(seen_now)})"
        else:  # sync: queued while the central service is down, cut while it delivers
            world.central.stop()
            kiosk.enroll()
            world.central.start()
            delay = rng.uniform(0, 20)
            time.sleep(delay)
            detail = f"{delay:.1f} s after the central service came back"
        if kiosk.card is not None:
            kiosk.card.remove()
            kiosk.card = None
        vm.kill()
        log(f"power cut {n}/{cuts} ({phase}): {detail}")
        seconds = boot(vm, kiosk, report, f"after cut {n}")
        log_rows.append(
            {"cut": n, "phase": phase, "detail": detail, "back_in_s": round(seconds, 1)}
        )
    report["power_cuts"] = {"count": cuts, "by_phase": counts, "cuts": log_rows}
    # Let the queue drain, then count.
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and not set(kiosk.seen) <= set(world.delivered()):
        time.sleep(5)
    delivered = world.delivered()
    integrity = queue_integrity(vm)
    _, pending = vm.run(
        "/usr/bin/python3",
        "-c",
        f"import sqlite3; db = sqlite3.connect('file:{QUEUE_IN_VM}?mode=ro', uri=True); "  # noqa: S608
        "print([r[0] for r in db.execute("
        "'SELECT name FROM sqlite_master WHERE type=\\'table\\'')])",
    )
    lost = [r for r in kiosk.seen if r not in delivered]
    twice = {r: c for r, c in delivered.items() if c != 1}
    report["power_cuts"].update(
        seen=len(kiosk.seen),
        delivered=len(delivered),
        lost=lost,
        delivered_more_than_once=twice,
        integrity_check=integrity,
        queue_tables=pending.strip(),
    )
    log(
        f"power cuts: {cuts} ({counts}); enrollments seen accepted/queued {len(kiosk.seen)}, "
        f"delivered {len(delivered)}, lost {len(lost)}, duplicated {len(twice)}, "
        f"integrity {integrity}"
    )


def check_faults(vm: VM, kiosk: Kiosk, world: World, report: dict[str, Any]) -> None:
    """A clock the kiosk knows is wrong, then a missing data partition (issue 15's faults).

    The clock: a Pi has no battery clock; booted with no network it runs from systemd's
    clock epoch (the image's build), which is before the certificate the site installed
    later. Here the certificate is issued again now, the RTC starts in 2001 and
    timesyncd's saved time is gone. The data partition: its superblock zeroed (no label,
    so no device), then put back; nothing at boot may write to it meanwhile.
    """
    faults: dict[str, Any] = {}
    report["faults"] = faults
    cert, key = world.central.tls.issue_kiosk(world.central.kiosk_id)
    for name, path in (("kiosk.crt", cert), ("kiosk.key", key)):
        code, out = vm.run(
            "/bin/sh", "-c", f"cat > {KEYS_IN_VM}/{name} <<'PEM'\n{path.read_text()}PEM\n"
        )
        assert code == 0, out
    vm.run("/bin/sh", "-c", "rm -f /var/lib/systemd/timesync/clock; sync")
    vm.kill()
    vm.rtc_base = "2001-01-01T00:00:00"
    try:
        vm.start()  # the sync worker's TLS fails on this clock: only the kiosk is waited for
        kiosk.wait_kiosk(600)
        kiosk.on_display()
        _, now = vm.run("/bin/date", "-u", "+%FT%TZ")
        known = set(kiosk.journal_receipts())
        kiosk.press("enter")  # welcome -> notes
        screen = kiosk.press("enter")  # -> place the card
        kiosk.card = world.new_card(vm.vpcd_host_port)
        kiosk.card.insert(wait=10)
        kiosk.wait_change(screen, timeout=120)
        kiosk.shot("clock_wrong")
        _, journal = vm.run(
            "/bin/journalctl", "-b", "-q", "-o", "cat", "--no-pager", "-u", "mynapoint-kiosk"
        )
        faults["clock"] = {
            "vm_clock": now.strip(),
            "refused": "clock_wrong problem=clock_before_valid_date" in journal,
            "enqueued": [r for r in kiosk.journal_receipts() if r not in known],
        }
        log(f"faults: clock {faults['clock']}")
        kiosk.card.remove()
        kiosk.card = None
    finally:
        vm.kill()
        vm.rtc_base = "utc"
    start, size = partition_offsets(vm.disk)["data"]
    with vm.disk.open("r+b") as disk:
        disk.seek(start + 1024)
        superblock = disk.read(1024)
        disk.seek(start + 1024)
        disk.write(bytes(1024))
    before = _digest(vm.disk, start, size)
    vm.start()
    status = kiosk.wait_kiosk(600)
    kiosk.on_display()
    kiosk.shot("data_missing")
    _, mounted = vm.run("/bin/sh", "-c", "findmnt -n -o SOURCE /data || echo none")
    vm.kill()
    faults["data_missing"] = {
        "kiosk_status": status,
        "data_mounted": mounted.strip(),
        "partition_untouched": _digest(vm.disk, start, size) == before,
    }
    log(f"faults: data partition missing {faults['data_missing']}")
    with vm.disk.open("r+b") as disk:
        disk.seek(start + 1024)
        disk.write(superblock)
    boot(vm, kiosk, report, "data partition back")
    integrity = queue_integrity(vm)
    faults["data_back"] = {"kiosk_status": kiosk.status_text(), "integrity": integrity}
    log(f"faults: data partition back {faults['data_back']}")


def queue_integrity(vm: VM) -> str:
    """``PRAGMA integrity_check`` of the kiosk's queue in the VM, read-only."""
    _, out = vm.run(
        "/usr/bin/python3",
        "-c",
        f"import sqlite3; print(sqlite3.connect('file:{QUEUE_IN_VM}?mode=ro', uri=True)"
        ".execute('PRAGMA integrity_check').fetchone()[0])",
    )
    return out.strip()


def _digest(path: Path, start: int, size: int) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        f.seek(start)
        left = size
        while left:
            chunk = f.read(min(left, 1 << 20))
            if not chunk:
                break
            digest.update(chunk)
            left -= len(chunk)
    return digest.hexdigest()


def failures(report: dict[str, Any]) -> list[str]:
    """Each verdict of ``report`` that is not what the appliance must do; empty: all held."""
    failed = []
    for name in ("enrollment_delivered", "heartbeat_seen"):
        if report.get(name) is False:
            failed.append(name)
    failed += [f"keys {k['keys']} on {k['screen']}" for k in report.get("keys", []) if not k["ok"]]
    cuts = report.get("power_cuts", {})
    if cuts.get("lost"):
        failed.append(f"power cuts lost {cuts['lost']}")
    if cuts.get("delivered_more_than_once"):
        failed.append(f"power cuts delivered twice {cuts['delivered_more_than_once']}")
    if "integrity_check" in cuts and cuts["integrity_check"] != "ok":
        failed.append(f"power cuts integrity {cuts['integrity_check']}")
    faults = report.get("faults", {})
    clock = faults.get("clock")
    if clock is not None and (not clock["refused"] or clock["enqueued"]):
        failed.append(f"wrong clock not refused {clock}")
    missing = faults.get("data_missing")
    if missing is not None and (
        "maintenance" not in missing["kiosk_status"]
        or missing["data_mounted"] != "none"
        or not missing["partition_untouched"]
    ):
        failed.append(f"data partition missing {missing}")
    back = faults.get("data_back")
    if back is not None and (back["integrity"] != "ok" or "maintenance" in back["kiosk_status"]):
        failed.append(f"data partition back {back}")
    return failed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image-dir", type=Path, default=REPO / "build" / "image")
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--power-cuts", type=int, default=0)
    parser.add_argument(
        "--sessions", type=int, default=0, help="whole sessions for the RSS figures"
    )
    parser.add_argument("--keys", action="store_true", help="send the escape key combinations")
    parser.add_argument(
        "--faults", action="store_true", help="a wrong clock, then a missing data partition"
    )
    parser.add_argument(
        "--screenshots", action="store_true", help="write docs/screenshots/arm64_*.png"
    )
    parser.add_argument("--seed", type=int, default=15)
    args = parser.parse_args(argv)
    work = args.work or Path(tempfile.mkdtemp(prefix="check-image-"))
    work.mkdir(parents=True, exist_ok=True)
    image = args.image_dir / "kiosk-arm64.img"
    if not image.exists():
        parser.error(f"{image} missing: scripts/build-image.sh --virtual-reader")
    report: dict[str, Any] = {"image": str(image), "work": str(work)}
    world = World(work)
    vm = None
    try:
        disk = work / "disk.raw"
        label = data_partition_label(args.image_dir / "rootfs" / "etc" / "fstab")
        provision(image, disk, args.image_dir / "data-skeleton.tar", world.config_dir(), label)
        vm = VM(disk, work, vpcd_host_port=free_port())
        kiosk = Kiosk(vm, world, work / "shots")
        check_basic(
            vm, kiosk, world, report, REPO / "docs" / "screenshots" if args.screenshots else None
        )
        if args.keys:
            check_keys(vm, kiosk, report)
        if args.sessions:
            check_sessions(vm, kiosk, report, args.sessions)
        if args.faults:
            check_faults(vm, kiosk, world, report)
        if args.power_cuts:
            check_power_cuts(vm, kiosk, world, report, args.power_cuts, args.seed)
    except Exception:
        if vm is not None and vm.alive():
            try:
                log(f"failed; the VM's own account:\n{kiosk.diagnose()}")
                vm.screenshot(work / "failed.png")
            except Exception as problem:  # noqa: BLE001 - the first failure is the one to see
                log(f"no account from the VM: {problem!r}")
        raise
    finally:
        (work / "report.json").write_text(json.dumps(report, indent=2, ensure_ascii=False))
        if vm is not None:
            vm.kill()
        world.stop()
        log(f"report: {work / 'report.json'}")
    print(json.dumps(report, indent=2, ensure_ascii=False))
    failed = failures(report)
    for line in failed:
        log(f"FAILED: {line}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
