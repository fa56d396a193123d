"""The payload leaves no copy in the kiosk's memory once sealed (issue 12, finding 13).

The canonical payload (signed and verified) and the HPKE sealing input both hold the
決済サービスID and the security code. They are built into bytearrays that are zeroed right
after use, so a scan of the process's memory after an enqueue finds neither document.
What cannot be zeroed (the Python strings themselves) is listed in docs/queue.md.
"""

from __future__ import annotations

import re
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from contract import wire
from offline_queue.store import Outbox
from sim.enrollments import CentralSealingKey, new_card, signed_enrollment

ROOT = Path(__file__).resolve().parents[1]


class RecordingSuite:
    """The real HPKE suite, keeping a reference to each plaintext it is handed."""

    def __init__(self, suite: Any) -> None:
        self._suite = suite
        self.plaintexts: list[Any] = []

    def encrypt(self, plaintext: Any, *args: Any, **kwargs: Any) -> bytes:
        self.plaintexts.append(plaintext)
        return self._suite.encrypt(plaintext, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._suite, name)


def test_the_buffer_handed_to_sealing_is_all_zeros_after_an_enqueue(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    suite = RecordingSuite(wire.HPKE_SUITE)
    monkeypatch.setattr(wire, "HPKE_SUITE", suite)
    key = CentralSealingKey.generate()
    enrollment = signed_enrollment(new_card(), "K-0001", service_user_id="1234567890123456")
    with Outbox(tmp_path / "q.sqlite3", [key.public], "K-0001", secrets.token_bytes(32)) as box:
        box.enqueue(*enrollment.args())
    (plaintext,) = suite.plaintexts
    assert isinstance(plaintext, bytearray) and len(plaintext) > 1000
    assert plaintext == bytearray(len(plaintext))  # every byte zero


CHILD = r"""
import gc, secrets, sys, tempfile
from pathlib import Path
from offline_queue.store import Outbox
from sim.enrollments import CentralSealingKey, new_card, signed_enrollment

user_id, code = sys.argv[1], sys.argv[2]
key = CentralSealingKey.generate()
enrollment = signed_enrollment(
    new_card(), "K-0001", service_user_id=user_id, security_codes=(code,)
)
with Outbox(Path(tempfile.mkdtemp()) / "q.sqlite3", [key.public], "K-0001",
            secrets.token_bytes(32)) as box:
    box.enqueue(*enrollment.args())
del enrollment, user_id, code  # the session is over
gc.collect()
print("ready", flush=True)
sys.stdin.readline()
"""


def scan_memory(pid: int, needles: dict[str, bytes]) -> dict[str, int]:
    """How often each needle occurs in the readable private memory of process ``pid``."""
    found = dict.fromkeys(needles, 0)
    maps = Path(f"/proc/{pid}/maps").read_text().splitlines()
    with open(f"/proc/{pid}/mem", "rb", buffering=0) as mem:
        for line in maps:
            fields = line.split()
            if not fields[1].startswith("r") or (len(fields) > 5 and fields[5].startswith("/")):
                continue  # unreadable, or a mapped file (code, fonts): not the heap
            start, end = (int(x, 16) for x in fields[0].split("-"))
            try:
                mem.seek(start)
                chunk = mem.read(end - start)
            except (OSError, OverflowError, ValueError):
                continue
            for name, needle in needles.items():
                found[name] += len(re.findall(re.escape(needle), chunk))
    return found


@pytest.mark.slow
def test_a_memory_scan_after_an_enqueue_finds_neither_the_payload_nor_the_sealing_input() -> None:
    user_id = "77" + secrets.token_hex(7)  # 16 characters, this run's only
    code = secrets.token_hex(2)
    payload_fragment = (
        f'"security_codes":["{code}"],"service_code":"waon","service_user_id":"{user_id}"'
    )
    sealing_fragment = f'"service_user_id": "{user_id}", "security_codes": ["{code}"]'
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, user_id, code],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        found = scan_memory(
            child.pid,
            {
                "canonical payload": payload_fragment.encode(),
                "sealing input": sealing_fragment.encode(),
                "the 決済サービスID alone": user_id.encode(),  # control: the scan sees memory
            },
        )
    finally:
        child.kill()
        child.wait()
    assert found["the 決済サービスID alone"] > 0, "the scan read none of the child's heap"
    assert found["canonical payload"] == 0, found
    assert found["sealing input"] == 0, found
