"""``[limits]`` in central.toml (central/serving.py): defaults, and a bad value named."""

from __future__ import annotations

from pathlib import Path

import pytest

from central.config import CentralConfig
from central.errors import CentralConfigError
from central.serving import FD_RESERVE, Limits, connection_cap

BASE = {
    "hash_key_file": "hash.key",
    "tls": {"cert": "s.pem", "key": "s.key", "client_ca": "ca.pem"},
    "sealing": {"keys_dir": "sealing"},
    "trust": {"jpki_ca": ["ca.pem"]},
}


def load(limits: dict | None = None, **top: object) -> CentralConfig:
    doc = {**BASE, **top}
    if limits is not None:
        doc["limits"] = limits
    return CentralConfig.from_dict(doc, base=Path("/srv/central"))


def test_defaults_bound_every_slow_client() -> None:
    config = load()
    assert config.limits == Limits()
    assert config.limits.tls_handshake_timeout <= 10
    assert config.unix_socket is None


def test_limits_and_the_unix_socket_are_read() -> None:
    config = load({"max_connections": 50, "body_timeout": 2.5}, unix_socket="run/w-1.sock")
    assert config.limits.max_connections == 50 and config.limits.body_timeout == 2.5
    assert config.unix_socket == Path("/srv/central/run/w-1.sock")


@pytest.mark.parametrize(
    ("limits", "named"),
    [
        ({"header_timout": 5}, "unknown keys: header_timout"),
        ({"body_timeout": "60"}, "body_timeout must be a number"),
        ({"keepalive_timeout": 0}, "keepalive_timeout must be more than 0"),
        ({"max_connections": 0}, "connection caps must be positive"),
        ({"tls_handshake_timeout": True}, "tls_handshake_timeout must be a number"),
    ],
)
def test_a_bad_limit_is_named(limits: dict, named: str) -> None:
    with pytest.raises(CentralConfigError, match=named):
        load(limits)


def test_the_cap_fits_in_the_file_descriptors() -> None:
    assert connection_cap(Limits(max_connections=2048), 1024) == 1024 - FD_RESERVE
    assert connection_cap(Limits(max_connections=50), 1024) == 50
    with pytest.raises(CentralConfigError, match="raise LimitNOFILE"):
        connection_cap(Limits(), FD_RESERVE)
