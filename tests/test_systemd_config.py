"""The appliance's configuration template and the sync unit's command, with kiosk/config.py."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from kiosk.appliance import EX_CONFIG
from kiosk.config import EXAMPLE_PATH, ConfigInvalid, parse_config
from sim.appliance import (
    ROOT,
    SYNC_UNIT,
    TEMPLATE,
    WITH_MDWE,
    filled_in,
    site_config,
    sync_command,
    template,
)
from sim.enrollments import central_outbox, enroll_valid

pytest_plugins = ["tests.fixtures.central"]

MUST_FILL = {"kiosk_id", "staff_pin_hash", "store.name", "central.base_url", "central.status_url"}


def keys_of(doc: dict[str, Any], prefix: str = "") -> set[str]:
    found = set()
    for key, value in doc.items():
        if isinstance(value, dict):
            found |= keys_of(value, f"{prefix}{key}.")
        else:
            found.add(prefix + key)
    return found


def test_template_filled_in_passes_the_kiosk_config_check() -> None:
    config = parse_config(filled_in(template()), TEMPLATE, check_files=False)
    assert config.printer.port == "/dev/mynapoint-printer"
    assert str(config.queue.db_path) == "/var/lib/mynapoint-kiosk/queue.sqlite3"


def test_template_as_shipped_names_exactly_the_keys_to_fill_in() -> None:
    with pytest.raises(ConfigInvalid) as raised:
        parse_config(template(), TEMPLATE, check_files=False)
    named = {problem.split(": ")[1] for problem in raised.value.problems}
    assert named == MUST_FILL


def test_template_has_every_key_of_the_documented_example() -> None:
    example = tomllib.loads(EXAMPLE_PATH.read_text(encoding="utf-8"))
    assert keys_of(template()) == keys_of(example)


def test_template_keeps_keys_and_secrets_in_the_protected_directory() -> None:
    doc = template()
    paths = [
        doc["card"]["trusted_ca_bundle"],
        doc["central"]["ca_cert"],
        doc["central"]["client_cert"],
        doc["central"]["client_key"],
        *doc["central"]["sealing_public_keys"],
        doc["queue"]["guard_secret_path"],
    ]
    assert all(p.startswith("/etc/mynapoint-kiosk/keys/") for p in paths)


# --- the sync unit's command, run for real against the central service ------------------


def run_sync_unit(
    config: Path, *extra: str, deny_write_execute: bool = False
) -> subprocess.CompletedProcess:
    env = dict(os.environ, MYNAPOINT_CONFIG=str(config), PYTHONPATH=str(ROOT))
    env.pop("NOTIFY_SOCKET", None)
    command = [*sync_command(), *extra]
    if deny_write_execute:
        command = [sys.executable, "-c", WITH_MDWE, *command]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, env=env, cwd=ROOT)


@pytest.mark.slow
def test_sync_unit_command_delivers_the_queue_with_the_site_configuration(
    central_service, tmp_path: Path
) -> None:
    config = site_config(central_service, tmp_path)
    outbox = central_outbox(central_service, tmp_path / "queue.sqlite3")
    try:
        queued = enroll_valid(outbox, central_service)
        result = run_sync_unit(config, "--once")
        assert result.returncode == 0, result.stderr
        assert outbox.get(queued.enrollment_id).state == "accepted"
    finally:
        outbox.close()


@pytest.mark.slow
def test_sync_worker_delivers_with_memory_deny_write_execute(
    central_service, tmp_path: Path
) -> None:
    """Why the sync unit can set MemoryDenyWriteExecute=yes (the kiosk, with Mesa, cannot)."""
    config = site_config(central_service, tmp_path)
    outbox = central_outbox(central_service, tmp_path / "queue.sqlite3")
    try:
        queued = enroll_valid(outbox, central_service)
        result = run_sync_unit(config, "--once", deny_write_execute=True)
        assert result.returncode == 0, result.stderr
        assert outbox.get(queued.enrollment_id).state == "accepted"
    finally:
        outbox.close()
    assert "MemoryDenyWriteExecute=yes" in SYNC_UNIT.read_text().splitlines()


def test_sync_unit_with_a_bad_configuration_names_the_key_and_is_not_restarted(
    tmp_path: Path,
) -> None:
    bad = tmp_path / "kiosk.toml"
    bad.write_text(TEMPLATE.read_text(encoding="utf-8"), encoding="utf-8")
    result = run_sync_unit(bad, "--once")
    assert result.returncode == EX_CONFIG
    assert "kiosk.toml: central.base_url: expected an https:// URL" in result.stderr
    assert f"RestartPreventExitStatus={EX_CONFIG}" in SYNC_UNIT.read_text()


@pytest.mark.slow
def test_sync_unit_command_tells_systemd_it_is_ready_and_alive_and_stops_on_sigterm(
    central_service, tmp_path: Path
) -> None:
    """Type=notify with WatchdogSec: READY, then a WATCHDOG ping per pass; SIGTERM ends it."""
    config = site_config(central_service, tmp_path)
    central_outbox(central_service, tmp_path / "queue.sqlite3").close()  # the kiosk made it
    notify_path = str(tmp_path / "notify.sock")
    env = dict(os.environ, MYNAPOINT_CONFIG=str(config), PYTHONPATH=str(ROOT))
    env.update(NOTIFY_SOCKET=notify_path, WATCHDOG_USEC="300000000")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(notify_path)
        sock.settimeout(60)
        worker = subprocess.Popen(sync_command(), env=env, cwd=ROOT, stderr=subprocess.PIPE)
        try:
            first, second = sock.recv(4096), sock.recv(4096)
            worker.send_signal(signal.SIGTERM)
            assert worker.wait(timeout=60) == 0
        finally:
            worker.kill()
            worker.wait()
    assert first.startswith(b"READY=1") and second == b"WATCHDOG=1"
