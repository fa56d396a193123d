"""What the central service refuses before it parses anything: request bodies over their
limit (``wire.MAX_BATCH_BYTES`` for a batch, ``wire.MAX_ITEM_BYTES`` for any other),
checked while the body is read, whether its length is declared or it is streamed.

Raw TLS sockets with the kiosk's client certificate, so that the test chooses exactly what
is sent: a Content-Length the body never fulfils, a chunked body with no end.
"""

from __future__ import annotations

import json
import socket
import ssl

import pytest

from contract import wire
from tests.fixtures.central import CentralService

pytest_plugins = ["tests.fixtures.central"]


@pytest.fixture(scope="module")
def central(central_for_module: CentralService) -> CentralService:
    return central_for_module


def tls_connection(svc: CentralService) -> ssl.SSLSocket:
    context = ssl.create_default_context(cafile=str(svc.ca_cert))
    context.load_cert_chain(str(svc.client_cert), str(svc.client_key))
    raw = socket.create_connection(("127.0.0.1", svc.port), timeout=30)
    return context.wrap_socket(raw, server_hostname="localhost")


def read_response(conn: ssl.SSLSocket) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body of a response the server ends by closing."""
    data = b""
    while True:
        try:
            chunk = conn.recv(65536)
        except (ConnectionResetError, ssl.SSLEOFError):
            break
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, v in (h.split(":", 1) for h in header_lines)}
    return int(status_line.split()[1]), headers, body


def request_head(path: str, *fields: str) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: localhost", "Content-Type: application/json"]
    return ("\r\n".join([*lines, *fields]) + "\r\n\r\n").encode()


def assert_refused_as_too_large(status: int, headers: dict[str, str], body: bytes) -> None:
    assert status == 413
    assert headers["content-type"] == "application/json"
    assert json.loads(body)["detail"]["reason"] == "body_too_large"


def assert_still_serving(svc: CentralService) -> None:
    with svc.session() as s:
        r = s.get(svc.base_url + wire.HEALTH_PATH, timeout=30)
    assert r.status_code == 200 and r.json()["ok"] is True


def test_the_limits_hold_the_largest_legitimate_batch(central: CentralService) -> None:
    card = central.pki.issue_card()
    item, _ = central.make_item(card, service_user_id="9" * 64, security_codes=["1234"] * 4)
    assert len(json.dumps(item)) * 4 < wire.MAX_ITEM_BYTES  # a real one is about 3.7 KB
    assert wire.MAX_BATCH_BYTES == wire.MAX_BATCH_ITEMS * wire.MAX_ITEM_BYTES


def test_a_declared_length_over_the_limit_is_refused_unread(central: CentralService) -> None:
    with tls_connection(central) as conn:
        conn.sendall(request_head(wire.BATCH_PATH, f"Content-Length: {100 * 1024 * 1024}"))
        conn.sendall(b'{"items": [')  # and never the rest: the answer must not wait for it
        assert_refused_as_too_large(*read_response(conn))
    assert_still_serving(central)


def test_a_streamed_body_over_the_limit_is_refused_while_read(central: CentralService) -> None:
    with tls_connection(central) as conn:
        conn.sendall(request_head(wire.BATCH_PATH, "Transfer-Encoding: chunked"))
        chunk = b"[" + b" " * (1024 * 1024 - 1)
        sent = 0
        while sent <= wire.MAX_BATCH_BYTES:  # one byte over, then no end of the body
            piece = chunk[: wire.MAX_BATCH_BYTES + 1 - sent]
            conn.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
            sent += len(piece)
            chunk = b" " * len(chunk)
        assert_refused_as_too_large(*read_response(conn))
    assert_still_serving(central)


def test_a_body_other_than_a_batch_is_held_to_one_item(central: CentralService) -> None:
    body = json.dumps({"kiosk_version": "x" * wire.MAX_ITEM_BYTES}).encode()
    with tls_connection(central) as conn:
        conn.sendall(request_head(wire.HEARTBEAT_PATH, f"Content-Length: {len(body)}") + body)
        assert_refused_as_too_large(*read_response(conn))


def test_many_small_values_are_refused_before_parsing(central: CentralService) -> None:
    body = b'{"items": [' + b"{}," * 2_000_000 + b"{}]}"  # 6 MB, under the byte limit
    assert len(body) < wire.MAX_BATCH_BYTES
    with tls_connection(central) as conn:
        conn.sendall(request_head(wire.BATCH_PATH, f"Content-Length: {len(body)}") + body)
        status, _, answer = read_response(conn)
    assert (status, json.loads(answer)["detail"]["reason"]) == (413, "body_too_many_values")
    assert_still_serving(central)


def test_a_body_under_the_limit_is_parsed(central: CentralService) -> None:
    padding = " " * (wire.MAX_BATCH_BYTES - 100)
    with central.session() as s:
        r = s.post(
            central.base_url + wire.BATCH_PATH,
            data=('{"items": []' + padding + "}").encode(),
            headers={"Content-Type": "application/json"},
            timeout=60,
        )
    assert r.status_code == 200 and r.json() == {"results": []}


def test_connections_accepted_on_the_tcp_listener_send_without_nagle() -> None:
    """A response's head and body are two writes; with Nagle on, the body waited for the
    client's delayed ACK of the head (40 ms per request, one request at a time)."""
    import asyncio

    from central.serving import bind_tcp_socket

    async def nodelay_of_an_accepted_connection() -> int:
        loop = asyncio.get_running_loop()
        listener = bind_tcp_socket("127.0.0.1", 0, 8)
        client = socket.socket()
        client.setblocking(False)
        try:
            await loop.sock_connect(client, listener.getsockname())
            conn, _ = await loop.sock_accept(listener)
            transport, _ = await loop.connect_accepted_socket(asyncio.Protocol, conn)
            try:
                sock = transport.get_extra_info("socket")
                return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
            finally:
                transport.close()
        finally:
            client.close()
            listener.close()

    assert asyncio.run(nodelay_of_an_accepted_connection()) != 0
