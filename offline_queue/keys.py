"""The kiosk's key material for the queue: central public keys and the card-guard secret.

Public sealing keys are ``*.pub.pem`` files in one directory; as on the central side
(``central/sealing.py``), the newest file by modification time is the current key. Copy
keys with their times (``cp -p``, ``install -p``) or touch the new one last. The kiosk
never holds a private sealing key.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from contract.wire import SealingKey
from offline_queue.errors import NoSealingKey

GUARD_SECRET_BYTES = 32


def load_sealing_keys(directory: str | Path) -> list[SealingKey]:
    """Every ``*.pub.pem`` in ``directory``, oldest first (the last one seals)."""
    files = sorted(Path(directory).glob("*.pub.pem"), key=lambda p: p.stat().st_mtime_ns)
    keys = []
    for file in files:
        try:
            keys.append(SealingKey.from_pem(file.read_bytes()))
        except ValueError as error:
            raise NoSealingKey(f"{file.name} is not an X25519 public key") from error
    if not keys:
        raise NoSealingKey(f"no central sealing key (*.pub.pem) in {directory}")
    return keys


def load_or_create_guard_secret(path: str | Path) -> bytes:
    """The per-kiosk secret keying the card guard; made once (mode 0600), kept outside the DB."""
    path = Path(path)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _existing_guard_secret(path)
    secret = secrets.token_bytes(GUARD_SECRET_BYTES)
    with os.fdopen(fd, "wb") as f:
        f.write(secret)
        f.flush()
        os.fsync(f.fileno())
    return secret


def _existing_guard_secret(path: Path) -> bytes:
    secret = path.read_bytes()
    if len(secret) < GUARD_SECRET_BYTES:
        raise ValueError(f"guard secret {path} is shorter than {GUARD_SECRET_BYTES} bytes")
    return secret
