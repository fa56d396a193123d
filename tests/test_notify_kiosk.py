"""The real kiosk app speaks Type=notify as mynapoint-kiosk.service expects.

The whole kiosk (real app, controller, virtual card and printer, pcscd, central service:
the UI's ``run_kiosk_ui`` fixture, tests/fixtures/screen.py) runs on Xvfb with
NOTIFY_SOCKET and WATCHDOG_USEC set, as systemd would set them. The test plays systemd:
with SO_PASSCRED every datagram carries its sender's pid, so the kiosk's messages are
told apart from those of the sync worker the rig also runs (it inherits the socket).
"""

from __future__ import annotations

import array
import socket
import struct
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

pytest_plugins = ["tests.fixtures.card", "tests.fixtures.screen"]

pytestmark = pytest.mark.slow  # each test here takes half a second or more

WATCHDOG_USEC = 2_000_000
READY_ON_WELCOME = "READY=1\nSTATUS=welcome"


@dataclass
class FakeSystemd:
    """The listening end of NOTIFY_SOCKET: (arrival, sender pid, message) triples."""

    sock: socket.socket
    got: list[tuple[float, int, str]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        self.sock.settimeout(0.2)
        creds_size = struct.calcsize("3i")
        while not self.stop.is_set():
            try:
                data, ancillary, _, _ = self.sock.recvmsg(4096, socket.CMSG_SPACE(creds_size))
            except TimeoutError:
                continue
            pid = -1
            for level, kind, payload in ancillary:
                if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                    pid = array.array("i", payload[:creds_size])[0]
            self.got.append((time.monotonic(), pid, data.decode()))

    def from_pid(self, pid: int) -> list[tuple[float, str]]:
        return [(t, m) for t, p, m in self.got if p == pid]


@pytest.fixture
def fake_systemd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSystemd]:
    path = str(tmp_path / "notify.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(path)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        monkeypatch.setenv("NOTIFY_SOCKET", path)
        monkeypatch.setenv("WATCHDOG_USEC", str(WATCHDOG_USEC))
        monkeypatch.delenv("WATCHDOG_PID", raising=False)
        listener = FakeSystemd(sock)
        thread = threading.Thread(target=listener.run, daemon=True)
        thread.start()
        yield listener
        listener.stop.set()
        thread.join(timeout=5)


def test_kiosk_app_is_ready_on_welcome_and_its_clock_keeps_the_watchdog_fed(
    run_kiosk_ui, fake_systemd: FakeSystemd
) -> None:
    report = run_kiosk_ui([["wait", "welcome"], ["sleep", 6]], cards={})
    assert report.get("error") is None, report.get("error")
    kiosk_pid = next(p for _, p, m in fake_systemd.got if m == READY_ON_WELCOME)
    messages = fake_systemd.from_pid(kiosk_pid)
    ready_at = next(t for t, m in messages if m == READY_ON_WELCOME)
    pings = [t for t, m in messages if m == "WATCHDOG=1" and t >= ready_at]
    assert len(pings) >= 4
    assert max(b - a for a, b in zip(pings, pings[1:], strict=False)) < WATCHDOG_USEC / 1e6
    assert messages[-1][1].startswith("STOPPING=1")
