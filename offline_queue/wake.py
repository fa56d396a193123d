"""Waking the sync worker: one unix datagram on a socket file next to the database.

The kiosk sends a datagram after each enqueue; the worker waits on its socket with a
timeout, so a lost wake costs at most one idle poll. The socket is a file in the
database's directory (``<db>-sync.wake``), so only who may reach the database (the
appliance's ``mynapoint`` group: the directory is 2770) can send a wake or take the
name; an abstract socket name could be bound first by any local user, which made the
worker refuse to start forever. One worker per queue is held by an ``flock`` on
``<db>-sync.lock`` (released by the kernel when the worker dies), not by the bind: the
socket file a crashed worker leaves behind is removed by the next one. A wake carries
no data: anyone able to send one can only make the worker look at the database sooner.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import socket
from collections.abc import Iterator
from pathlib import Path


def wake_address(db_path: str | Path) -> str:
    """The worker's socket file for the queue at ``db_path`` (same for every process)."""
    return os.path.realpath(db_path) + "-sync.wake"


def lock_path(db_path: str | Path) -> str:
    """The file whose ``flock`` makes one worker per queue."""
    return os.path.realpath(db_path) + "-sync.lock"


#: A unix socket's address holds at most 108 bytes with its NUL (``sun_path``).
_SUN_PATH_MAX = 107


@contextlib.contextmanager
def _short(address: str) -> Iterator[str]:
    """``address``, or the same file reached through an open descriptor of its directory
    (``/proc/self/fd/N/name``) when the path is longer than a socket address may be: a
    queue deep in a long directory (a test's temporary one) still gets its wake."""
    if len(os.fsencode(address)) <= _SUN_PATH_MAX:
        yield address
        return
    directory = os.open(os.path.dirname(address), os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        yield f"/proc/self/fd/{directory}/{os.path.basename(address)}"
    finally:
        os.close(directory)


def send_wake(db_path: str | Path) -> bool:
    """Nudge the worker of this queue; False when no worker is listening (never raises)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.setblocking(False)
        try:
            with _short(wake_address(db_path)) as address:
                sock.sendto(b"w", address)
        except OSError:
            return False
    return True


class WakeListener:
    """The worker's end: ``wait(timeout)`` returns True when woken, False on timeout."""

    def __init__(self, db_path: str | Path) -> None:
        """Raises OSError(EADDRINUSE) when another worker holds this queue."""
        self._lock = os.open(lock_path(db_path), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o660)
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._lock)
            raise OSError(errno.EADDRINUSE, "another worker holds this queue") from None
        self._address = wake_address(db_path)
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._address)  # left by a worker that died; we hold the lock
            with _short(self._address) as address:
                self._sock.bind(address)
            os.chmod(self._address, 0o660)  # the group (the kiosk) sends; the directory guards
        except BaseException:
            self._sock.close()
            os.close(self._lock)
            raise

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
        if self._sock.fileno() == -1:
            return
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._address)  # before the lock goes: never another worker's socket
        self._sock.close()
        os.close(self._lock)

    def __enter__(self) -> WakeListener:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
