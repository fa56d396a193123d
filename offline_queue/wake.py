"""Waking the sync worker: one unix datagram on an abstract socket named after the DB.

The kiosk sends a datagram after each enqueue; the worker waits on its socket with a
timeout, so a lost wake costs at most one idle poll. The abstract namespace (Linux)
leaves no file behind after a crash and has no path-length trouble. A wake carries no
data: anyone able to send one can only make the worker look at the database sooner.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
from pathlib import Path


def wake_address(db_path: str | Path) -> str:
    """The worker's socket name for the queue at ``db_path`` (same for every process)."""
    digest = hashlib.sha256(os.path.realpath(db_path).encode()).hexdigest()[:24]
    return f"\0mynapoint-sync-{digest}"


def send_wake(db_path: str | Path) -> bool:
    """Nudge the worker of this queue; False when no worker is listening (never raises)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.setblocking(False)
        try:
            sock.sendto(b"w", wake_address(db_path))
        except OSError:
            return False
    return True


class WakeListener:
    """The worker's end: ``wait(timeout)`` returns True when woken, False on timeout."""

    def __init__(self, db_path: str | Path) -> None:
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.bind(wake_address(db_path))

    def wait(self, timeout_s: float) -> bool:
        # A timeout of 0 (something is due already) makes the socket non-blocking: an
        # empty socket then raises BlockingIOError, not TimeoutError. Both mean "no wake".
        self._sock.settimeout(max(0.0, timeout_s))
        try:
            self._sock.recv(64)
        except (TimeoutError, BlockingIOError):
            return False
        self._drain()
        return True

    def _drain(self) -> None:
        """Several wakes while busy mean one more look, not several."""
        self._sock.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            while True:
                self._sock.recv(64)

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> WakeListener:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
