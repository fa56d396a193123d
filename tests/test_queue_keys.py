"""The kiosk's queue keys: central public keys from a directory, the card-guard secret."""

import os
import stat

import pytest

from contract.wire import SealingKey, generate_sealing_keypair
from offline_queue.errors import NoSealingKey
from offline_queue.keys import load_or_create_guard_secret, load_sealing_keys


def write_public(directory, name, mtime):
    _, public_pem = generate_sealing_keypair()
    path = directory / f"{name}.pub.pem"
    path.write_bytes(public_pem)
    os.utime(path, (mtime, mtime))
    return SealingKey.from_pem(public_pem)


def test_newest_public_key_file_comes_last_and_seals(tmp_path):
    newer = write_public(tmp_path, "aaa", 2_000_000_000)
    older = write_public(tmp_path, "zzz", 1_000_000_000)
    assert [k.key_id for k in load_sealing_keys(tmp_path)] == [older.key_id, newer.key_id]


def test_directory_without_public_keys_is_a_typed_error(tmp_path):
    with pytest.raises(NoSealingKey) as caught:
        load_sealing_keys(tmp_path)
    assert caught.value.kind == "queue_no_sealing_key"


def test_guard_secret_is_made_once_private_and_then_reused(tmp_path):
    path = tmp_path / "guard.key"
    first = load_or_create_guard_secret(path)
    assert load_or_create_guard_secret(path) == first
    assert len(first) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_private_key_among_the_public_keys_is_refused(tmp_path):
    private_pem, _ = generate_sealing_keypair()
    (tmp_path / "oops.pub.pem").write_bytes(private_pem)  # the kiosk must never hold one
    with pytest.raises(NoSealingKey):
        load_sealing_keys(tmp_path)
