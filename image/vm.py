"""The appliance image under qemu-system-aarch64 (TCG), driven from the host.

One :class:`VM` is one qemu process on a copy of the disk: the AAVMF firmware boots the
image's own systemd-boot, kernel and initrd from its EFI partition. The host talks to
it through

* QMP (``screendump``, ``send-key``, ``input-send-event``): what a screen shows and what
  a keyboard or a finger does;
* the QEMU guest agent (only in the ``--virtual-reader`` image the check builds):
  commands in the VM (``systemctl is-active``, ``journalctl``, ``/proc/PID/status``);
* the user network: the guest reaches the host's loopback as 10.0.2.2 (central
  service, printer); the host reaches the VM's vpcd reader port through a forward bound
  to 127.0.0.1 only.

``kill()`` is SIGKILL to qemu: the disk (raw, ``cache=writethrough``) holds exactly what
the guest had been told was written, as after a power cut.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

from PIL import Image, ImageChops

FIRMWARE_CODE = Path("/usr/share/AAVMF/AAVMF_CODE.fd")
FIRMWARE_VARS = Path("/usr/share/AAVMF/AAVMF_VARS.fd")
VPCD_PORT = 35963  # vsmartcard-vpcd's reader port in the VM (reader.conf 0x8C7B)

#: QMP qcode of each key name the check sends (``send-key``).
QCODES = {str(n): str(n) for n in range(10)} | {
    "enter": "ret",
    "esc": "esc",
    "backspace": "backspace",
    "down": "down",
    "up": "up",
    "ctrl": "ctrl",
    "alt": "alt",
    "shift": "shift",
    "f1": "f1",
    "f2": "f2",
    "f4": "f4",
    "c": "c",
    "b": "b",
    "s": "s",
    "u": "u",
    "delete": "delete",
    "sysrq": "sysrq",
    "tab": "tab",
    "meta_l": "meta_l",
}


class QMP:
    """A QMP connection: one JSON command, one answer (events are skipped)."""

    def __init__(self, path: Path, timeout: float = 60.0) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(str(path))
        self.file = self.sock.makefile("rwb")
        self._read()  # greeting
        self.command("qmp_capabilities")

    def _read(self) -> dict[str, Any]:
        while True:
            line = self.file.readline()
            if not line:
                raise ConnectionError("QMP closed")
            message = json.loads(line)
            if "event" not in message:
                return message

    def command(self, name: str, **arguments: Any) -> Any:
        self.file.write(json.dumps({"execute": name, "arguments": arguments}).encode() + b"\n")
        self.file.flush()
        answer = self._read()
        if "error" in answer:
            raise RuntimeError(f"QMP {name}: {answer['error']}")
        return answer.get("return")

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()


class GuestAgent:
    """The QEMU guest agent over its chardev socket (one command at a time)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock: socket.socket | None = None
        self._buffer = b""

    def _connect(self, timeout: float) -> socket.socket:
        if self.sock is None:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.connect(str(self.path))
        self.sock.settimeout(timeout)
        return self.sock

    def reset(self) -> None:
        if self.sock is not None:
            with contextlib.suppress(OSError):
                self.sock.close()
        self.sock = None

    def _line(self, sock: socket.socket) -> dict[str, Any] | None:
        while b"\n" not in self._buffer:
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError("guest agent closed")
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        try:
            return json.loads(line.replace(b"\xff", b"").strip() or b"null")
        except ValueError:
            return None

    def _call(self, name: str, timeout: float, **arguments: Any) -> Any:
        sock = self._connect(timeout)
        # guest-sync-delimited: the agent drops what came before the 0xFF, answers the id.
        token = int.from_bytes(os.urandom(4), "big") & 0x7FFFFFFF
        self._buffer = b""
        sync = {"execute": "guest-sync-delimited", "arguments": {"id": token}}
        sock.sendall(b"\xff" + json.dumps(sync).encode() + b"\n")
        while True:
            message = self._line(sock)
            if isinstance(message, dict) and message.get("return") == token:
                break
        sock.sendall(json.dumps({"execute": name, "arguments": arguments}).encode() + b"\n")
        while True:
            answer = self._line(sock)
            if isinstance(answer, dict):
                break
        if "error" in answer:
            raise RuntimeError(f"guest agent {name}: {answer['error']}")
        return answer.get("return")

    def run(self, argv: list[str], timeout: float = 60.0) -> tuple[int, str]:
        """Run a command in the VM as root: (exit code, stdout + stderr)."""
        pid = self._call("guest-exec", 10, path=argv[0], arg=argv[1:], **{"capture-output": True})[
            "pid"
        ]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = self._call("guest-exec-status", 10, pid=pid)
            if status.get("exited"):
                out = base64.b64decode(status.get("out-data", "")).decode(errors="replace")
                err = base64.b64decode(status.get("err-data", "")).decode(errors="replace")
                return status.get("exitcode", -1), out + err
            time.sleep(0.3)
        raise TimeoutError(f"{argv} still running after {timeout} s")


class VM:
    """qemu-system-aarch64 on ``disk``; ``start()``, ``kill()``, ``start()`` again."""

    def __init__(
        self,
        disk: Path,
        work: Path,
        *,
        memory_mib: int = 1024,
        cpus: int = 2,
        vpcd_host_port: int = 0,
    ) -> None:
        self.disk, self.work = disk, work
        self.memory_mib, self.cpus = memory_mib, cpus
        self.vpcd_host_port = vpcd_host_port
        #: The emulated RTC's start: "utc" (the host's time) or an ISO date (a wrong clock).
        self.rtc_base = "utc"
        self.process: subprocess.Popen | None = None
        self.qmp: QMP | None = None
        self.agent = GuestAgent(work / "qga.sock")
        self.boots = 0
        self.started_at = 0.0
        self.vars = work / "AAVMF_VARS.fd"
        if not self.vars.exists():
            self.vars.write_bytes(FIRMWARE_VARS.read_bytes())

    @property
    def serial_log(self) -> Path:
        return self.work / f"serial-{self.boots}.log"

    def command(self) -> list[str]:
        forward = (
            f"hostfwd=tcp:127.0.0.1:{self.vpcd_host_port}-:{VPCD_PORT}"
            if self.vpcd_host_port
            else ""
        )
        return [
            "qemu-system-aarch64",
            "-M",
            "virt",
            "-cpu",
            "cortex-a72",
            "-accel",
            "tcg,thread=multi",
            "-smp",
            str(self.cpus),
            "-m",
            str(self.memory_mib),
            "-nodefaults",
            "-no-user-config",
            "-drive",
            f"if=pflash,format=raw,readonly=on,file={FIRMWARE_CODE}",
            "-drive",
            f"if=pflash,format=raw,file={self.vars}",
            "-drive",
            f"if=none,id=disk,format=raw,file={self.disk},cache=writethrough,discard=unmap",
            "-device",
            "virtio-blk-pci,drive=disk",
            "-netdev",
            "user,id=net" + ("," + forward if forward else ""),
            "-device",
            "virtio-net-pci,netdev=net",
            "-device",
            "virtio-gpu-pci,xres=1280,yres=800",
            "-device",
            "qemu-xhci",
            "-device",
            "usb-kbd",
            "-device",
            "usb-tablet",
            "-device",
            "virtio-rng-pci",
            "-device",
            "i6300esb",
            "-action",
            "watchdog=reset",
            "-chardev",
            f"socket,id=qga,path={self.work / 'qga.sock'},server=on,wait=off",
            "-device",
            "virtio-serial-pci",
            "-device",
            "virtserialport,chardev=qga,name=org.qemu.guest_agent.0",
            "-qmp",
            f"unix:{self.work / 'qmp.sock'},server=on,wait=off",
            "-serial",
            f"file:{self.serial_log}",
            "-rtc",
            f"base={self.rtc_base},clock=host",
            "-display",
            "none",
        ]

    def start(self) -> None:
        self.boots += 1
        for name in ("qmp.sock", "qga.sock"):
            with contextlib.suppress(FileNotFoundError):
                (self.work / name).unlink()
        log = (self.work / f"qemu-{self.boots}.log").open("wb")
        self.started_at = time.monotonic()
        self.process = subprocess.Popen(
            self.command(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.monotonic() + 30
        while not (self.work / "qmp.sock").exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"qemu did not start: {(self.work / f'qemu-{self.boots}.log').read_text()}"
                )
            time.sleep(0.1)
        self.qmp = QMP(self.work / "qmp.sock")
        self.agent.reset()

    def kill(self) -> None:
        """Power cut: SIGKILL, no flush, no shutdown."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(30)
        if self.qmp is not None:
            self.qmp.close()
        self.qmp = None
        self.agent.reset()

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    # -- the screen and the keyboard --------------------------------------------------
    def screenshot(self, path: Path | None = None) -> Image.Image:
        assert self.qmp is not None
        ppm = self.work / "screen.ppm"
        self.qmp.command("screendump", filename=str(ppm))
        image = Image.open(ppm).convert("RGB")
        image.load()
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            image.save(path)
        return image

    def keys(self, *combo: str, hold_ms: int = 120) -> None:
        """Press ``combo`` together (e.g. "ctrl", "alt", "f2"), as a keyboard would."""
        assert self.qmp is not None
        self.qmp.command(
            "send-key",
            keys=[{"type": "qcode", "data": QCODES[k]} for k in combo],
            **{"hold-time": hold_ms},
        )

    def type_digits(self, digits: str) -> None:
        for digit in digits:
            self.keys(digit)
            time.sleep(0.15)

    def tap(self, x: int, y: int, width: int = 1280, height: int = 800) -> None:
        """A finger (the USB tablet) on pixel (x, y) of the 1280x800 screen."""
        assert self.qmp is not None
        ax, ay = round(x * 32767 / (width - 1)), round(y * 32767 / (height - 1))
        move = [
            {"type": "abs", "data": {"axis": "x", "value": ax}},
            {"type": "abs", "data": {"axis": "y", "value": ay}},
        ]
        self.qmp.command("input-send-event", events=move)
        time.sleep(0.1)
        self.qmp.command(
            "input-send-event", events=[{"type": "btn", "data": {"down": True, "button": "left"}}]
        )
        time.sleep(0.15)
        self.qmp.command(
            "input-send-event", events=[{"type": "btn", "data": {"down": False, "button": "left"}}]
        )

    # -- inside the VM ----------------------------------------------------------------
    def run(self, *argv: str, timeout: float = 60.0) -> tuple[int, str]:
        return self.agent.run(list(argv), timeout)

    def agent_up(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                return False
            try:
                self.agent._call("guest-ping", 5)
                return True
            except (OSError, ConnectionError, RuntimeError, ValueError):
                self.agent.reset()
                time.sleep(1)
        return False


def difference(a: Image.Image, b: Image.Image) -> float:
    """Share of pixels that differ noticeably between two screens (0..1)."""
    if a.size != b.size:
        return 1.0
    diff = ImageChops.difference(a, b).convert("L").point(lambda v: 255 if v > 24 else 0)
    return sum(diff.histogram()[255:]) / (a.size[0] * a.size[1])
