"""What the central service shows and takes beyond its API: no schema or docs pages unless
configured, no redirect built from the Host header, heartbeats held to what a kiosk really
sends, and ``init``'s hash key never readable by others, not even for a moment."""

from __future__ import annotations

import http.client
import os
import ssl
import stat
import sys
from pathlib import Path
from typing import Any

import pytest

from central.app import init_directory
from central.config import CentralConfig
from central.errors import CentralConfigError
from contract import wire
from drivers.printer_status import PrinterOutOfPaper
from kiosk.heartbeat import collect_health
from offline_queue.store import QueueStatus
from sim.pki import TestPKI
from tests.fixtures.central import CentralService

pytest_plugins = ["tests.fixtures.central"]


@pytest.fixture(scope="module")
def central(central_for_module: CentralService) -> CentralService:
    return central_for_module


def get(svc: CentralService, path: str, host: str = "localhost") -> http.client.HTTPResponse:
    """A GET with the kiosk's certificate, sending ``path`` and ``Host`` exactly as given."""
    context = ssl.create_default_context(cafile=str(svc.ca_cert))
    context.load_cert_chain(str(svc.client_cert), str(svc.client_key))
    conn = http.client.HTTPSConnection("127.0.0.1", svc.port, context=context, timeout=30)
    conn.request("GET", path, headers={"Host": host})
    response = conn.getresponse()
    response.read()
    conn.close()
    return response


@pytest.mark.parametrize("path", ["/openapi.json", "/docs", "/redoc"])
def test_schema_and_docs_pages_are_off_by_default(central: CentralService, path: str) -> None:
    assert get(central, path).status == 404


@pytest.mark.parametrize("path", ["/v1/health%2F", "/v1/health/", "/v1/kiosks%2f"])
def test_a_trailing_slash_is_not_redirected_to_the_host_header(
    central: CentralService, path: str
) -> None:
    response = get(central, path, host="evil.example")
    assert response.status == 404
    assert response.getheader("Location") is None
    assert get(central, wire.HEALTH_PATH, host="evil.example").status == 200


def post_heartbeat(svc: CentralService, body: dict[str, Any]) -> Any:
    with svc.session() as s:
        return s.post(svc.base_url + wire.HEARTBEAT_PATH, json=body, timeout=30)


@pytest.mark.parametrize(
    "field",
    [
        {"queue_depth": -1},
        {"oldest_pending_age_s": -5.0},
        {"printer": "Paper jam in tray 2, call 090-1234-5678"},
        {"reader": "ok\nreader=broken"},
        {"printer": "x" * 65},
        {"kiosk_version": "1.0 <script>"},
        {"last_sync": "yesterday, about noon"},
    ],
)
def test_a_heartbeat_with_loose_input_is_refused(
    central: CentralService, field: dict[str, Any]
) -> None:
    r = post_heartbeat(central, field)
    assert r.status_code == 422
    assert [e["loc"][-1] for e in r.json()["detail"]] == list(field)


def test_what_a_kiosk_really_sends_is_taken(central: CentralService) -> None:
    queue = QueueStatus(
        counts={"pending": 3},
        oldest_pending_age_s=12.34,
        last_success_at=1.8e9,
        last_error_kind=None,
    )
    for printer, reader in ((PrinterOutOfPaper(), "ok"), ("ok", "unknown"), ("?", "ok")):
        health = collect_health(queue, printer=printer, reader=reader, version="0.1.0+dev")
        assert post_heartbeat(central, health.body()).status_code == 200
    assert post_heartbeat(central, {}).status_code == 200  # every field has a default


def test_init_creates_the_hash_key_private_from_the_start(tmp_path: Path, jpki: TestPKI) -> None:
    """Every moment ``init`` lets Python code run (each audited call) after the hash key
    exists, the key is already 0600."""
    hash_key = tmp_path / "central" / "hash.key"
    modes: set[int] = set()
    watching = False

    def hook(event: str, args: tuple[Any, ...]) -> None:
        if watching and os.path.exists(hash_key):
            modes.add(stat.S_IMODE(os.stat(hash_key).st_mode))

    sys.addaudithook(hook)  # cannot be removed; idle once ``watching`` is off
    old_umask = os.umask(0o022)
    try:
        watching = True
        init_directory(tmp_path / "central", [jpki.directory / "ca-2023.pem"], ["K-0001"])
    finally:
        watching = False
        os.umask(old_umask)
    assert modes == {0o600}


def test_openapi_must_be_a_boolean_in_the_config(tmp_path: Path) -> None:
    doc: dict[str, Any] = {
        "hash_key_file": "hash.key",
        "tls": {"cert": "c.pem", "key": "k.pem", "client_ca": "ca.pem"},
        "sealing": {"keys_dir": "sealing"},
        "trust": {"jpki_ca": ["ca.pem"]},
    }
    assert CentralConfig.from_dict(doc, base=tmp_path).openapi is False
    assert CentralConfig.from_dict({**doc, "openapi": True}, base=tmp_path).openapi is True
    with pytest.raises(CentralConfigError, match="openapi"):
        CentralConfig.from_dict({**doc, "openapi": "yes"}, base=tmp_path)
