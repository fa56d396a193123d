"""The sd_notify protocol against a real NOTIFY_SOCKET that the test listens on.

systemd is not PID 1 here, so the test plays systemd's part: it binds the
datagram socket, hands its address to the kiosk code in NOTIFY_SOCKET (and a
watchdog in WATCHDOG_USEC), and reads what arrives.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from kiosk import notify

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Listener:
    """systemd's end of the notify socket: collects (arrival time, message) pairs."""

    sock: socket.socket
    address: str

    def receive(self, timeout: float = 5.0) -> str:
        self.sock.settimeout(timeout)
        return self.sock.recv(4096).decode()

    def receive_until(self, deadline: float, last: str | None = None) -> list[tuple[float, str]]:
        """Everything that arrives before the deadline, or up to the message ``last``."""
        got: list[tuple[float, str]] = []
        while (left := deadline - time.monotonic()) > 0:
            self.sock.settimeout(left)
            try:
                message = self.sock.recv(4096).decode()
            except TimeoutError:
                break
            got.append((time.monotonic(), message))
            if got[-1][1] == last:
                break
        return got


@pytest.fixture
def listener(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Listener]:
    path = str(tmp_path / "notify.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(path)
        monkeypatch.setenv("NOTIFY_SOCKET", path)
        yield Listener(sock, path)


@pytest.fixture
def abstract_listener(monkeypatch: pytest.MonkeyPatch) -> Iterator[Listener]:
    name = f"mynapoint-test-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(b"\0" + name.encode())
        monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
        yield Listener(sock, "@" + name)


def test_ready_arrives_on_the_notify_socket(listener: Listener) -> None:
    assert notify.ready()
    assert listener.receive() == "READY=1"


def test_ready_carries_a_status_line(listener: Listener) -> None:
    notify.ready("welcome shown")
    assert listener.receive() == "READY=1\nSTATUS=welcome shown"


def test_ready_reaches_an_abstract_socket(abstract_listener: Listener) -> None:
    assert notify.ready()
    assert abstract_listener.receive() == "READY=1"


def test_status_is_always_a_single_line(listener: Listener) -> None:
    notify.status("queue\n3 pending\tprinter ok")
    assert listener.receive() == "STATUS=queue 3 pending printer ok"


def test_stopping_and_watchdog_messages_are_sent(listener: Listener) -> None:
    notify.watchdog()
    notify.stopping()
    assert [listener.receive(), listener.receive()] == ["WATCHDOG=1", "STOPPING=1"]


def test_extend_timeout_is_sent_in_microseconds(listener: Listener) -> None:
    notify.extend_timeout(2.5)
    assert listener.receive() == "EXTEND_TIMEOUT_USEC=2500000"


def test_without_notify_socket_every_call_is_a_quiet_no_op(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert not any([notify.ready("x"), notify.status("x"), notify.watchdog(), notify.stopping()])


def test_a_socket_nobody_listens_on_does_not_raise(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "gone.sock"))
    assert notify.ready() is False


def test_watchdog_interval_is_half_of_watchdog_usec() -> None:
    assert notify.watchdog_interval({"WATCHDOG_USEC": "30000000"}) == 15.0


def test_watchdog_meant_for_another_process_is_ignored() -> None:
    other = str(os.getpid() + 1)
    assert notify.watchdog_interval({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": other}) is None


def test_watchdog_for_this_process_is_honoured() -> None:
    mine = {"WATCHDOG_USEC": "2000000", "WATCHDOG_PID": str(os.getpid())}
    assert notify.watchdog_interval(mine) == 1.0


def test_pinger_without_watchdog_never_pings(listener: Listener) -> None:
    pinger = notify.WatchdogPinger.from_environment({})
    assert not pinger.enabled and not pinger.tick()


def test_pinger_does_not_flood_when_a_loop_ticks_often(listener: Listener) -> None:
    pinger = notify.WatchdogPinger(interval=10.0)
    sent = [pinger.tick() for _ in range(50)]
    assert sent.count(True) == 1


@pytest.mark.slow
def test_sync_loop_pause_keeps_pinging(listener: Listener) -> None:
    """The sync worker's idle wait pings on time while it waits for the next round."""
    pinger = notify.WatchdogPinger(interval=0.2)
    start = time.monotonic()
    pinger.idle(threading.Event(), 1.0)
    got = listener.receive_until(time.monotonic() + 0.1)
    assert len(got) >= 4 and all(msg == "WATCHDOG=1" for _, msg in got)
    assert time.monotonic() - start < 2.0


def test_sync_loop_pause_ends_at_once_when_asked_to_stop(listener: Listener) -> None:
    stop = threading.Event()
    threading.Timer(0.1, stop.set).start()
    start = time.monotonic()
    assert notify.WatchdogPinger(interval=5.0).idle(stop, 30.0) is True
    assert time.monotonic() - start < 5.0


# --- The UI: a real Kivy clock in its own process, frozen by a blocking callback --------

WATCHDOG_USEC = 2_000_000  # pings expected every second
RUN_BEFORE_FREEZE = 4.0
FREEZE = 3.0

_KIVY_CHILD = textwrap.dedent(
    """
    import os, sys, time
    os.environ.update(KIVY_NO_ARGS="1", KIVY_NO_FILELOG="1", KIVY_NO_CONSOLELOG="1")
    from kivy.base import EventLoop
    from kivy.clock import Clock
    from kiosk import notify
    from screens import clock

    class NoInput:  # the event loop runs only while it has a listener
        def dispatch(self, *args): pass

    def freeze(dt):  # a UI bug: a blocking call on the Kivy main thread
        notify.status("freezing")
        time.sleep(float(sys.argv[2]))
        notify.status("thawed")
        notify.stopping()
        EventLoop.close()

    def welcome(dt):
        notify.ready("welcome")
        Clock.schedule_once(freeze, float(sys.argv[1]))

    EventLoop.add_event_listener(NoInput())
    EventLoop.start()
    Clock.tick()
    time.sleep(1.5)  # a slow start: the clock's first interval is due at once
    clock.start_kivy_watchdog()  # as the app does in on_start; the pinger is not kept
    Clock.schedule_once(welcome, 0)
    EventLoop.mainloop()
    """
)


@pytest.fixture(scope="module")
def kivy_run(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[float, str]]:
    """Messages from one kiosk-like Kivy process: runs, freezes its UI thread, thaws, exits.

    A real Kivy clock and event loop, without a window (the UI's Xvfb fixture is
    not needed to show the clock's behaviour).
    """
    path = str(tmp_path_factory.mktemp("notify") / "notify.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(path)
        env = dict(os.environ, NOTIFY_SOCKET=path, WATCHDOG_USEC=str(WATCHDOG_USEC))
        env["PYTHONPATH"] = str(ROOT)
        env["KIVY_HOME"] = str(tmp_path_factory.mktemp("kivy-home"))
        child = subprocess.Popen(
            [sys.executable, "-c", _KIVY_CHILD, str(RUN_BEFORE_FREEZE), str(FREEZE)],
            env=env,
            cwd=ROOT,
        )
        try:
            listener = Listener(sock, path)
            got = listener.receive_until(time.monotonic() + 60, last="STOPPING=1")
            assert child.wait(timeout=30) == 0
        finally:
            child.kill()
            child.wait()
    return got


def _pings_between(run: list[tuple[float, str]], first: str, last: str) -> list[float]:
    start = next(t for t, m in run if m == first)
    end = next(t for t, m in run if m == last)
    return [t for t, m in run if m == "WATCHDOG=1" and start <= t <= end]


@pytest.mark.slow
def test_kivy_ui_sends_ready(kivy_run: list[tuple[float, str]]) -> None:
    assert "READY=1\nSTATUS=welcome" in [m for _, m in kivy_run]


def test_kivy_clock_pings_at_half_the_watchdog_time(kivy_run: list[tuple[float, str]]) -> None:
    pings = _pings_between(kivy_run, "READY=1\nSTATUS=welcome", "STATUS=freezing")
    gaps = [b - a for a, b in zip(pings, pings[1:], strict=False)]
    assert len(pings) >= 3
    assert max(gaps) < WATCHDOG_USEC / 1e6  # systemd would never have to step in
    assert sum(gaps) / len(gaps) >= 0.8  # about every second, not a flood


def test_kivy_pings_stop_while_the_ui_thread_is_blocked(
    kivy_run: list[tuple[float, str]],
) -> None:
    frozen_at = next(t for t, m in kivy_run if m == "STATUS=freezing")
    thawed_at = next(t for t, m in kivy_run if m == "STATUS=thawed")
    assert thawed_at - frozen_at >= FREEZE * 0.9
    assert _pings_between(kivy_run, "STATUS=freezing", "STATUS=thawed") == []
