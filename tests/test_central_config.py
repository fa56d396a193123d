"""The central service refuses to start on a bad setup, and says what is wrong
(``mynapoint-central: central_config: ...``, exit status 2) instead of a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from drivers.sim.pki import TestPKI
from tests.fixtures.central import CentralService, prepare_central


@pytest.fixture(scope="module")
def jpki(tmp_path_factory: pytest.TempPathFactory) -> TestPKI:
    return TestPKI.create(tmp_path_factory.mktemp("jpki"))


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
