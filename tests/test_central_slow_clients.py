"""Clients that hold connections without finishing anything (issue 12, findings 1 and 7):
a flood of TCP connections that never start TLS, a request head or body trickled a byte
at a time, and a kiosk connection left idle. The real service process, with short limits
set in its config (``[limits]``, central/serving.py) and a small file-descriptor budget,
so that a flood of 150 connections is enough to show what 1,100 did to a 1,024 budget.

Every wait is on a socket: each test waits for the server to close it.
"""

from __future__ import annotations

import select
import socket
import ssl
import time
from pathlib import Path

import pytest
import requests

from contract import wire
from sim.waiting import eventually
from tests.fixtures.central import CentralService, start_central
from tests.test_central_limits import tls_connection

pytest_plugins = ["tests.fixtures.central"]

pytestmark = pytest.mark.slow

SHORT = {
    "tls_handshake_timeout": 2,
    "header_timeout": 1,
    "body_timeout": 2,
    "keepalive_timeout": 1,
}
#: How long a test waits for a close the limits make happen within a few seconds: the
#: old code never closes, so the test then fails after this long.
PATIENCE = 30.0


def closed_by_server(conn: socket.socket) -> bool:
    """True once the peer has closed ``conn`` (EOF or reset); never blocks."""
    readable, _, _ = select.select([conn], [], [], 0)
    if not readable:
        return False
    try:
        while True:
            if not conn.recv(65536):
                return True
    except (BlockingIOError, ssl.SSLWantReadError):
        return False
    except (ConnectionError, ssl.SSLError, OSError):
        return True


def trickle_until_closed(conn: ssl.SSLSocket, data: bytes, pace: float = 0.2) -> float:
    """Send ``data`` a byte at a time, one byte every ``pace`` s unless the server closes
    the connection first; the seconds it took the server to close it."""
    conn.setblocking(False)  # a TLS session ticket makes it readable: never block on it
    start = time.monotonic()
    for byte in data:
        readable, _, _ = select.select([conn], [], [], pace)  # the pace, or the close
        if readable and closed_by_server(conn):
            return time.monotonic() - start
        try:
            conn.sendall(bytes([byte]))
        except (ConnectionError, ssl.SSLError, OSError):
            return time.monotonic() - start
        if time.monotonic() - start > PATIENCE:
            break
    raise AssertionError(f"the server kept a trickling connection open for {PATIENCE}s")


@pytest.fixture(scope="module")
def short_limits(tmp_path_factory: pytest.TempPathFactory, jpki) -> CentralService:  # noqa: ANN001
    service = start_central(tmp_path_factory.mktemp("central-slow"), pki=jpki, limits=SHORT)
    yield service
    service.stop()


def test_a_flood_of_idle_connections_leaves_room_for_a_kiosk(tmp_path: Path, jpki) -> None:  # noqa: ANN001
    # 150 idle connections against a budget of 128 file descriptors, from five addresses.
    svc = start_central(
        tmp_path,
        pki=jpki,
        limits={**SHORT, "max_connections": 50, "max_connections_per_ip": 20},
        fd_limit=128,
    )
    try:
        log_lines_before = len(svc.log_file.read_text(errors="replace").splitlines())
        flood = []
        for i in range(150):
            source = (f"127.0.0.{2 + i % 5}", 0)
            flood.append(socket.create_connection(("127.0.0.1", svc.port), 10, source))
        with svc.session() as kiosk:
            answer = kiosk.get(svc.base_url + wire.HEALTH_PATH, timeout=PATIENCE)
        assert answer.status_code == 200 and answer.json()["ok"] is True
        for conn in flood:
            conn.setblocking(False)
        still_open = lambda: [c for c in flood if not closed_by_server(c)]  # noqa: E731
        eventually(lambda: not still_open(), PATIENCE, "the idle connections closed")
        # The service still answers, and said what happened in a few lines, not one a
        # connection or one a failed accept.
        with svc.session() as kiosk:
            assert kiosk.get(svc.base_url + wire.HEALTH_PATH, timeout=PATIENCE).ok
        log_lines = svc.log_file.read_text(errors="replace").splitlines()[log_lines_before:]
        assert len(log_lines) < 20, "\n".join(log_lines[:40])
        assert not any("Too many open files" in line for line in log_lines)
    finally:
        for conn in flood:
            conn.close()
        svc.stop()


def test_a_request_head_trickled_a_byte_at_a_time_is_cut(short_limits: CentralService) -> None:
    head = f"POST {wire.HEARTBEAT_PATH} HTTP/1.1\r\nHost: localhost\r\n" + "X-Pad: a\r\n" * 50
    with tls_connection(short_limits) as conn:
        trickle_until_closed(conn, head.encode())
    # Cut, not blocked: the next kiosk request is answered.
    with short_limits.session() as kiosk:
        assert kiosk.get(short_limits.base_url + wire.HEALTH_PATH, timeout=PATIENCE).ok


def test_a_body_trickled_a_byte_at_a_time_is_cut(short_limits: CentralService) -> None:
    body = b'{"queue_depth": 0, "kiosk_version": "' + b"1" * 400 + b'"}'
    head = (
        f"POST {wire.HEARTBEAT_PATH} HTTP/1.1\r\nHost: localhost\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    with tls_connection(short_limits) as conn:
        conn.sendall(head)
        trickle_until_closed(conn, body)


def test_an_idle_kiosk_connection_is_closed(short_limits: CentralService) -> None:
    # Authenticated (the handshake is done with the kiosk's certificate), then nothing.
    with tls_connection(short_limits) as conn:
        conn.setblocking(False)
        eventually(lambda: closed_by_server(conn), PATIENCE, "the idle connection closed")
    # And idle after an answer, on a kept-alive connection.
    with tls_connection(short_limits) as conn:
        conn.sendall(f"GET {wire.HEALTH_PATH} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode())
        response = b""
        while b'"backend"' not in response:
            chunk = conn.recv(65536)
            assert chunk, "closed before answering"
            response += chunk
        assert response.startswith(b"HTTP/1.1 200")
        conn.setblocking(False)
        eventually(lambda: closed_by_server(conn), PATIENCE, "the kept-alive connection closed")


def test_a_tcp_listener_ignores_a_client_certificate_header(
    short_limits: CentralService,
) -> None:
    """The header nginx sets is believed only on the unix socket (test_central_nginx.py):
    on HTTPS a kiosk claiming another kiosk's certificate in it is still itself."""
    other_cert, _ = short_limits.kiosk_cert("K-TEST-9999")
    escaped = requests.utils.quote(Path(other_cert).read_text())
    with short_limits.session() as kiosk:
        answer = kiosk.post(
            short_limits.base_url + wire.HEARTBEAT_PATH,
            json={"queue_depth": 0},
            headers={"X-Mynapoint-Client-Cert": escaped, "X-Mynapoint-Client-Verify": "SUCCESS"},
            timeout=PATIENCE,
        )
    assert answer.json()["kiosk_id"] == short_limits.kiosk_id
