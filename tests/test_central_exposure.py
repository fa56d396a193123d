"""What the central service shows and takes beyond its API: no schema or docs pages unless
configured, no redirect built from the Host header, heartbeats held to what a kiosk really
sends, and ``init``'s hash key never readable by others, not even for a moment."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path
from typing import Any

from central.app import init_directory
from sim.pki import TestPKI

pytest_plugins = ["tests.fixtures.central"]


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
