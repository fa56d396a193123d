"""The central service refuses to start on a bad setup, and says what is wrong
(``mynapoint-central: central_config: ...``, exit status 2) instead of a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import requests

from contract import wire
from sim.pki import TestPKI
from sim.waiting import eventually
from tests.fixtures.central import CentralService, free_port, prepare_central

pytest_plugins = ["tests.fixtures.central"]

pytestmark = pytest.mark.slow  # each test here takes half a second or more


@pytest.fixture
def setup(tmp_path: Path, jpki: TestPKI) -> CentralService:
    return prepare_central(tmp_path / "central", pki=jpki)


def start_fails(config: Path) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "central.app", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    return done.stderr


def test_a_missing_config_file_is_named(tmp_path: Path) -> None:
    assert "central_config: cannot read config" in start_fails(tmp_path / "nope.toml")


def test_no_sealing_key_is_named(setup: CentralService) -> None:
    for key in (setup.directory / "sealing").glob("*.key.pem"):
        key.unlink()
    assert "no sealing key" in start_fails(setup.config_file)


def test_a_short_hash_key_is_refused(setup: CentralService) -> None:
    (setup.directory / "hash.key").write_bytes(b"short")
    assert "at least 32 random bytes" in start_fails(setup.config_file)


def test_a_missing_jpki_trust_file_is_named(setup: CentralService) -> None:
    (setup.directory / "jpki-trust.pem").unlink()
    assert "[trust] jpki_ca not found" in start_fails(setup.config_file)


def test_a_missing_tls_certificate_is_named(setup: CentralService) -> None:
    setup.tls.server_cert.unlink()
    assert "[tls] cert not found" in start_fails(setup.config_file)


def test_a_config_without_trust_is_refused(setup: CentralService) -> None:
    text = setup.config_file.read_text().replace("jpki_ca =", "# jpki_ca =")
    setup.config_file.write_text(text)
    assert "missing [trust] jpki_ca" in start_fails(setup.config_file)


def test_init_makes_a_setup_that_starts_and_answers_a_kiosk(tmp_path: Path, jpki: TestPKI) -> None:
    directory, port = tmp_path / "demo", free_port()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "central.app",
            "init",
            str(directory),
            "--port",
            str(port),
            "--kiosk",
            "K-DEMO-0001",
            *(a for p in jpki.directory.glob("ca-*[0-9].pem") for a in ("--jpki-ca", str(p))),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    private = [
        *directory.glob("tls/*.key.pem"),
        *directory.glob("sealing/*.key.pem"),
        directory / "hash.key",
    ]
    assert len(private) == 5 and all(p.stat().st_mode & 0o077 == 0 for p in private)
    process = subprocess.Popen(
        [sys.executable, "-m", "central.app", "--config", str(directory / "central.toml")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        tls = directory / "tls"
        with requests.Session() as s:
            s.trust_env = False
            s.verify = str(tls / "ca.pem")
            s.cert = (str(tls / "kiosk-K-DEMO-0001.pem"), str(tls / "kiosk-K-DEMO-0001.key.pem"))

            def health() -> requests.Response | None:
                assert process.poll() is None, "mynapoint-central exited"
                try:
                    return s.get(f"https://127.0.0.1:{port}{wire.HEALTH_PATH}", timeout=2)
                except requests.ConnectionError:
                    return None

            r = eventually(health, 30, "an answer from the service", interval=0.2)
        assert r.json() == {"ok": True, "backend": "sqlite"}
    finally:
        process.terminate()
        process.wait(15)
