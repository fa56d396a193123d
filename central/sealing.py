"""The central service's HPKE private keys, by key id, old ones kept for rotation.

Each ``*.key.pem`` file in the keys directory is one X25519 private key; its key id is
``wire.key_id_for`` of its public key. The *current* key (the one kiosks should seal to)
is the newest file by modification time. Rotate by adding a new key file; delete an old
one only after every kiosk queue sealed to it has drained.
"""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from central.errors import CannotJudge, CentralConfigError, Rejection
from contract import wire

#: The kind of CannotJudge when no key of the service has the item's key id.
SEALING_KEY_MISSING = "central_sealing_key_missing"


class SealingKeyring:
    def __init__(self, keys: dict[str, X25519PrivateKey], current: str) -> None:
        self._keys = keys
        self.current_key_id = current

    @classmethod
    def load(cls, directory: Path) -> SealingKeyring:
        files = sorted(directory.glob("*.key.pem"), key=lambda p: p.stat().st_mtime_ns)
        keys: dict[str, X25519PrivateKey] = {}
        for file in files:
            try:
                key = serialization.load_pem_private_key(file.read_bytes(), password=None)
            except (OSError, ValueError) as exc:
                raise CentralConfigError(f"cannot load sealing key {file}: {exc}") from exc
            if not isinstance(key, X25519PrivateKey):
                raise CentralConfigError(f"sealing key {file} is not an X25519 key")
            keys[wire.key_id_for(key.public_key())] = key
        if not keys:
            raise CentralConfigError(f"no sealing key (*.key.pem) in {directory}")
        current = wire.key_id_for(
            serialization.load_pem_private_key(files[-1].read_bytes(), None).public_key()  # type: ignore[arg-type]
        )
        return cls(keys, current)

    @property
    def key_ids(self) -> list[str]:
        return list(self._keys)

    def public_pem(self, key_id: str | None = None) -> bytes:
        key = self._keys[key_id or self.current_key_id]
        return key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def open(self, key_id: str, enrollment_id: str, sealed: bytes) -> tuple[dict, bytes, bytes]:
        """(payload, certificate DER, signature); Rejection('bad_seal') when the key it names
        does not open it; CannotJudge when the service does not hold that key (an old key
        deleted too early, or one not yet installed): retry, never a final answer."""
        key = self._keys.get(key_id)
        if key is None:
            raise CannotJudge(SEALING_KEY_MISSING)
        try:
            return wire.open_sealed(key, key_id, enrollment_id, sealed)
        except Exception as exc:  # any failure to open is the same answer: bad seal
            raise Rejection("bad_seal") from exc


def write_new_sealing_key(directory: Path) -> str:
    """Generate a sealing key pair into ``directory``; returns its key id."""
    directory.mkdir(parents=True, exist_ok=True)
    private_pem, public_pem = wire.generate_sealing_keypair()
    key_id = wire.SealingKey.from_pem(public_pem).key_id
    private_file = directory / f"{key_id}.key.pem"
    private_file.touch(mode=0o600)
    private_file.write_bytes(private_pem)
    (directory / f"{key_id}.pub.pem").write_bytes(public_pem)
    return key_id
