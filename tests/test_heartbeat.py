"""The kiosk's heartbeat, delivered to the real central service over mutual TLS."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from contract.wire import HEARTBEAT_PATH, KIOSKS_PATH
from kiosk.heartbeat import (
    Health,
    Heartbeat,
    collect_health,
    send_collected,
    status_code,
)
from kiosk.staff import LOCKOUT_S, MAX_WRONG, StaffGate
from offline_queue import policy
from offline_queue.errors import QueueUnavailable
from offline_queue.store import QueueStatus
from offline_queue.transport import mtls_session
from sim.enrollments import (
    SECURITY_CODE,
    SERVICE_USER_ID,
    central_outbox,
    new_card,
    signed_enrollment,
)

pytest_plugins = ["tests.fixtures.central"]

ROOT = Path(__file__).resolve().parents[1]
FAST = {"connect_timeout_s": 1.0, "read_timeout_s": 1.0}


def healthy(**changes: object) -> Health:
    fields = {
        "kiosk_version": "0.1.0",
        "queue_depth": 0,
        "oldest_pending_age_s": None,
        "printer": "ok",
        "reader": "ok",
        "last_sync": None,
    }
    return Health(**{**fields, **changes})


def heartbeat_for(central, **kwargs: object) -> Heartbeat:
    return Heartbeat.over_mtls(
        central.base_url, central.ca_cert, central.client_cert, central.client_key, **kwargs
    )


def listed_kiosks(central) -> dict[str, dict]:
    with central.session() as session:
        response = session.get(central.base_url + KIOSKS_PATH, timeout=10)
    response.raise_for_status()
    return {k["kiosk_id"]: k for k in response.json()["kiosks"]}


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A TCP port that accepts connections and never answers (a hung central service)."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join(timeout=5)
    for conn in accepted:
        conn.close()
    listener.close()


@pytest.mark.slow
def test_heartbeat_is_listed_by_the_central_service(central_service) -> None:
    heartbeat = heartbeat_for(central_service)
    try:
        sent = heartbeat.send(healthy(queue_depth=3, printer="out_of_paper"))
        assert sent is not None and sent.result(timeout=15) is True
    finally:
        heartbeat.close()
    listed = listed_kiosks(central_service)[central_service.kiosk_id]
    assert listed["queue_depth"] == 3
    assert listed["printer"] == "out_of_paper"
    assert listed["kiosk_version"] == "0.1.0"
    assert listed["stale"] is False


@pytest.mark.slow
def test_heartbeat_reports_queue_depth_age_and_no_personal_data(
    central_service, tmp_path: Path
) -> None:
    outbox = central_outbox(central_service, tmp_path / "queue.sqlite3")
    cards = [new_card(central_service.pki) for _ in range(2)]
    for card in cards:
        outbox.enqueue(*signed_enrollment(card, central_service.kiosk_id).args())
    heartbeat = heartbeat_for(central_service)
    try:
        health = collect_health(outbox.status(), printer="ok", reader="no_card")
        assert heartbeat.send(health).result(timeout=15) is True
    finally:
        heartbeat.close()
        outbox.close()
    listed = listed_kiosks(central_service)[central_service.kiosk_id]
    assert listed["queue_depth"] == 2 and listed["oldest_pending_age_s"] >= 0
    text = json.dumps(listed)
    for secret in (SERVICE_USER_ID, SECURITY_CODE):
        assert secret not in text
    for card in cards:
        assert format(card.certificate.serial_number, "x") not in text.lower()
        assert str(card.certificate.serial_number) not in text


def test_report_holds_only_counts_ages_times_and_status_codes() -> None:
    status = QueueStatus(
        counts={"pending": 2, "sending": 1, "accepted": 40, "rejected": 1, "dead": 0},
        oldest_pending_age_s=125.37,
        last_success_at=1_780_000_000.0,
        last_error_kind=None,
        delivered={"accepted": 52, "rejected": 1},
        sync_failures={"central_busy": 2, "central_unreachable": 3},
    )
    body = collect_health(status, printer="ok", reader="ok", version="0.1.0").body()
    assert body == {
        "kiosk_version": "0.1.0",
        "queue_depth": 3,
        "oldest_pending_age_s": 125.4,
        "printer": "ok",
        "reader": "ok",
        "last_sync": "2026-05-28T20:26:40Z",
        "staff_locked": False,
        "staff_lockouts": 0,
        "speech": "off",
        "procedures": {},  # issue 11: per procedure, name -> open count (none in this status)
        # the sync worker's totals and dead items (issue 13): counts only
        "dead_items": 0,
        "sync_accepted": 52,  # answers recorded since the queue was created, not rows left
        "sync_rejected": 1,
        "sync_failures": 5,
        "sync_failures_by_kind": {"central_busy": 2, "central_unreachable": 3},
        "storage": "ok",  # issue 15: ok, storage_full, or why the queue did not open
        "clock": "ok",  # issue 15: or why the clock is known wrong
    }


def test_a_staff_pin_lockout_is_seen_by_the_operator_in_the_kiosk_list(central_service) -> None:
    """Five wrong staff PINs lock the staff screen (kiosk/staff.py); the next heartbeat tells
    the central service, which lists it, and the one after the lockout says it is over."""
    now = [0.0]
    gate = StaffGate(lambda pin: pin == bytearray(b"2580"), clock=lambda: now[0])
    for _ in range(MAX_WRONG):
        gate.check(bytearray(b"0000"))
    status = QueueStatus({}, oldest_pending_age_s=None, last_success_at=None, last_error_kind=None)
    heartbeat = heartbeat_for(central_service)
    try:
        locked = collect_health(status, printer="ok", reader="ok", staff_gate=gate)
        assert heartbeat.send(locked).result(timeout=15) is True
        listed = listed_kiosks(central_service)[central_service.kiosk_id]
        assert (listed["staff_locked"], listed["staff_lockouts"]) == (True, 1)
        now[0] += LOCKOUT_S
        over = collect_health(status, printer="ok", reader="ok", staff_gate=gate)
        assert heartbeat.send(over).result(timeout=15) is True
    finally:
        heartbeat.close()
    listed = listed_kiosks(central_service)[central_service.kiosk_id]
    assert (listed["staff_locked"], listed["staff_lockouts"]) == (False, 1)


@pytest.mark.parametrize(
    "field", [{"staff_locked": "yes"}, {"staff_lockouts": -1}, {"staff_lockouts": "5 times"}]
)
def test_the_central_service_refuses_a_staff_lockout_that_is_not_a_flag_and_a_count(
    central_service, field: dict
) -> None:
    with central_service.session() as session:
        url = central_service.base_url + HEARTBEAT_PATH
        response = session.post(url, json={**healthy().body(), **field}, timeout=10)
    assert response.status_code == 422


def test_free_text_device_status_is_sent_as_unknown() -> None:
    assert status_code("Printer jammed while printing receipt for 1234567890") == "unknown"
    assert status_code(None) == "unknown"
    assert status_code("cover_open") == "cover_open"


def test_a_device_error_is_reported_by_its_kind() -> None:
    assert status_code(QueueUnavailable("db locked for receipt ABCD")) == "queue_unavailable"


@pytest.mark.slow
def test_a_central_service_that_is_down_fails_quietly(
    central_service, caplog: pytest.LogCaptureFixture
) -> None:
    central_service.stop()
    heartbeat = heartbeat_for(central_service, **FAST)
    try:
        with caplog.at_level(logging.WARNING, logger="kiosk.heartbeat"):
            first = heartbeat.send(healthy()).result(timeout=15)
            second = heartbeat.send(healthy()).result(timeout=15)
    finally:
        heartbeat.close()
    assert first is second is False
    assert heartbeat.last_error_kind == policy.ERROR_UNREACHABLE
    assert [r.getMessage() for r in caplog.records] == ["heartbeat_failed kind=central_unreachable"]


@pytest.mark.slow
def test_a_hung_central_service_never_blocks_the_caller(
    silent_server: int, central_service
) -> None:
    session = mtls_session(
        central_service.ca_cert, central_service.client_cert, central_service.client_key
    )
    heartbeat = Heartbeat(f"https://127.0.0.1:{silent_server}", session, **FAST)
    try:
        in_flight = heartbeat.send(healthy())
        assert in_flight is not None and not in_flight.done()  # send returned; post still on
        assert heartbeat.send(healthy()) is None  # reports do not pile up behind it
        assert in_flight.result(timeout=15) is False
    finally:
        heartbeat.close()
    assert heartbeat.last_error_kind == policy.ERROR_TIMEOUT


@pytest.mark.slow
def test_heartbeat_resumes_when_the_central_service_is_back(central_service) -> None:
    heartbeat = heartbeat_for(central_service, **FAST)
    try:
        central_service.stop()
        assert heartbeat.send(healthy()).result(timeout=15) is False
        central_service.start()
        assert heartbeat.send(healthy()).result(timeout=15) is True
    finally:
        heartbeat.close()
    assert heartbeat.last_error_kind is None and heartbeat.last_ok_at is not None


@pytest.mark.slow
def test_a_central_service_with_another_ca_is_refused_as_tls_error(
    central_service, tmp_path: Path
) -> None:
    from cryptography.hazmat.primitives import serialization

    other_ca = tmp_path / "other-ca.pem"
    other_ca.write_bytes(
        central_service.pki.ca_certificates["2023"].public_bytes(serialization.Encoding.PEM)
    )
    heartbeat = Heartbeat.over_mtls(
        central_service.base_url,
        other_ca,
        central_service.client_cert,
        central_service.client_key,
        **FAST,
    )
    try:
        assert heartbeat.send(healthy()).result(timeout=15) is False
    finally:
        heartbeat.close()
    assert heartbeat.last_error_kind == policy.ERROR_TLS
    assert central_service.kiosk_id not in listed_kiosks(central_service)


def test_a_missing_pinned_ca_is_refused_at_start(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="pinned CA"):
        mtls_session(tmp_path / "nope.pem", tmp_path / "c.pem", tmp_path / "k.pem")


@pytest.mark.slow
def test_a_queue_that_cannot_be_read_skips_one_report_without_raising(
    central_service,
) -> None:
    def broken() -> Health:
        raise QueueUnavailable("queue database is locked")

    heartbeat = heartbeat_for(central_service)
    try:
        assert send_collected(heartbeat, broken) is None
        assert send_collected(heartbeat, healthy).result(timeout=15) is True
    finally:
        heartbeat.close()


# --- on the Kivy clock: a hung central service never stalls the UI loop -----------------

_KIVY_CHILD = """
import os, sys
os.environ.update(KIVY_NO_ARGS="1", KIVY_NO_FILELOG="1", KIVY_NO_CONSOLELOG="1")
from kivy.base import EventLoop
from kivy.clock import Clock
from kiosk import notify
from kiosk.heartbeat import Health, Heartbeat
from offline_queue.transport import mtls_session
from screens.clock import start_heartbeat, start_kivy_watchdog

url, ca, cert, key, seconds = sys.argv[1:6]
heartbeat = Heartbeat(url, mtls_session(ca, cert, key), connect_timeout_s=5, read_timeout_s=5)

class NoInput:
    def dispatch(self, *args): pass

def collect():
    notify.status("collected")
    return Health("0.1.0", 0, None, "ok", "ok", None)

def finish(dt):
    notify.stopping()
    EventLoop.close()

EventLoop.add_event_listener(NoInput())
EventLoop.start()
start_kivy_watchdog()
start_heartbeat(heartbeat, collect, interval_s=0.25)
Clock.schedule_once(finish, float(seconds))
EventLoop.mainloop()
heartbeat.close()
"""


@pytest.mark.slow
def test_a_hung_central_service_never_stalls_the_kivy_clock(
    silent_server: int, central_service, tmp_path: Path
) -> None:
    """Heartbeats every 0.25 s to a server that never answers; the UI keeps its cadence."""
    path = str(tmp_path / "notify.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(path)
        env = dict(os.environ, NOTIFY_SOCKET=path, WATCHDOG_USEC="2000000")
        env.update(PYTHONPATH=str(ROOT), KIVY_HOME=str(tmp_path / "kivy"))
        args = [f"https://127.0.0.1:{silent_server}", central_service.ca_cert]
        args += [central_service.client_cert, central_service.client_key, "4"]
        child = subprocess.Popen([sys.executable, "-c", _KIVY_CHILD, *map(str, args)], env=env)
        try:
            got = receive_until(sock, "STOPPING=1", timeout_s=60)
            assert child.wait(timeout=30) == 0
        finally:
            child.kill()
            child.wait()
    pings = [t for t, m in got if m == "WATCHDOG=1"]
    assert [m for _, m in got].count("STATUS=collected") >= 10  # it kept trying
    assert max(b - a for a, b in zip(pings, pings[1:], strict=False)) < 2.0


def receive_until(sock: socket.socket, last: str, timeout_s: float) -> list[tuple[float, str]]:
    got: list[tuple[float, str]] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            message = sock.recv(4096).decode()
        except TimeoutError:
            break
        got.append((time.monotonic(), message))
        if message == last:
            break
    return got
