"""The production way to run central (issue 12): Debian's nginx terminating mutual TLS in
front of two central workers on unix sockets, with the shipped central/deploy/nginx.conf.
Real kiosk enrollments through it; what nginx refuses before a worker sees anything; and
that a client cannot name itself in the identity header nginx passes on.
"""

from __future__ import annotations

import json
import re
import socket
import ssl
import subprocess
from pathlib import Path

import pytest
import requests

from contract import wire
from sim.central import _central_command
from sim.waiting import eventually
from tests.fixtures.central import CentralService, prepare_central
from tests.fixtures.nginx import SHIPPED_CONF
from tests.test_central_limits import read_response, request_head
from tests.test_central_slow_clients import PATIENCE, closed_by_server

pytest_plugins = ["tests.fixtures.central", "tests.fixtures.nginx"]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def central(central_behind_nginx: CentralService) -> CentralService:
    return central_behind_nginx


def enroll(svc: CentralService, codes: list[str]) -> dict:
    card = svc.pki.issue_card()
    service_code, user_id, right = svc.new_account("waon")
    item, _ = svc.make_item(
        card, service_code=service_code, service_user_id=user_id, security_codes=codes or right
    )
    with svc.session() as kiosk:
        answer = kiosk.post(
            svc.base_url + wire.BATCH_PATH, json=wire.batch_body([item]), timeout=30
        )
    assert answer.status_code == 200, answer.text
    return answer.json()["results"][0]


def test_an_enrollment_through_nginx_is_accepted(central: CentralService) -> None:
    assert enroll(central, [])["status"] == wire.ACCEPTED


def test_a_wrong_code_through_nginx_is_refused(central: CentralService) -> None:
    result = enroll(central, ["0000"])
    assert result["status"] == wire.REJECTED
    assert result["reason"] == "account_not_confirmed"


def test_both_workers_answer(central: CentralService) -> None:
    with central.session() as kiosk:
        for _ in range(6):
            assert kiosk.get(central.base_url + wire.HEALTH_PATH, timeout=30).ok
    for worker in central.workers:  # type: ignore[attr-defined]
        assert worker.poll() is None


def test_a_client_without_a_certificate_is_refused_by_nginx(central: CentralService) -> None:
    with requests.Session() as anonymous:
        anonymous.trust_env = False
        answer = anonymous.get(
            central.base_url + wire.HEALTH_PATH, verify=str(central.ca_cert), timeout=30
        )
    assert answer.status_code == 400
    assert "No required SSL certificate" in answer.text


def test_a_forged_identity_header_is_overwritten(central: CentralService) -> None:
    other_cert, _ = central.kiosk_cert("K-TEST-9999")
    forged = requests.utils.quote(Path(other_cert).read_text())
    with central.session() as kiosk:
        answer = kiosk.post(
            central.base_url + wire.HEARTBEAT_PATH,
            json={"queue_depth": 0},
            headers={"X-Mynapoint-Client-Cert": forged, "X-Mynapoint-Client-Verify": "SUCCESS"},
            timeout=30,
        )
    assert answer.status_code == 200, answer.text
    assert answer.json()["kiosk_id"] == central.kiosk_id


def test_an_oversized_body_is_refused_by_nginx_with_413(central: CentralService) -> None:
    context = ssl.create_default_context(cafile=str(central.ca_cert))
    context.load_cert_chain(str(central.client_cert), str(central.client_key))
    raw = socket.create_connection(("127.0.0.1", central.port), timeout=30)
    with context.wrap_socket(raw, server_hostname="localhost") as conn:
        conn.sendall(request_head(wire.BATCH_PATH, f"Content-Length: {wire.MAX_BATCH_BYTES + 1}"))
        status, headers, body = read_response(conn)
    assert status == 413
    assert headers["content-type"] == "application/json"
    assert json.loads(body)["detail"] == {
        "reason": "body_too_large",
        "max_bytes": wire.MAX_BATCH_BYTES,
    }


def test_the_shipped_body_limit_is_the_wire_limit() -> None:
    text = SHIPPED_CONF.read_text()
    assert re.search(rf"client_max_body_size {wire.MAX_BATCH_BYTES};", text)
    assert f'"max_bytes": {wire.MAX_BATCH_BYTES}' in text


def test_a_worker_refuses_a_socket_directory_others_can_enter(tmp_path: Path, jpki) -> None:  # noqa: ANN001
    service = prepare_central(tmp_path / "central", pki=jpki)
    open_dir = tmp_path / "open"
    open_dir.mkdir()
    open_dir.chmod(0o777)
    result = subprocess.run(
        [
            *_central_command(),
            "--config",
            str(service.config_file),
            "--unix-socket",
            str(open_dir / "worker.sock"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "must not be open to others" in result.stdout + result.stderr
    assert not (open_dir / "worker.sock").exists()


def test_nginx_closes_a_connection_that_never_starts_tls(central: CentralService) -> None:
    """nginx 1.22 has no ssl_handshake_timeout: client_header_timeout (5 s) bounds it."""
    with socket.create_connection(("127.0.0.1", central.port), timeout=30) as idle:
        idle.setblocking(False)
        eventually(lambda: closed_by_server(idle), PATIENCE, "nginx closing an idle connection")
