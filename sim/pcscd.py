"""A pcscd of one's own, with the vpcd reader: for tests, the demo and the benchmark.

pcscd's daemon socket is hard-coded to /run/pcscd, but the PC/SC client library
honours ``PCSCLITE_CSOCK_NAME``. As root we can run pcscd in a private mount
namespace with a temporary directory bound over /run/pcscd, and a vpcd reader on a
free port, so it disturbs neither the system pcscd nor another session's::

    daemon = PrivatePcscd(Path(tempfile.mkdtemp()))
    os.environ["PCSCLITE_CSOCK_NAME"] = str(daemon.socket_path)  # before any context
    daemon.start()                    # waits until it lists "Virtual PCD 00 00"
    VirtualCard(card_dir, port=daemon.port).insert()
    daemon.kill(); daemon.start(with_reader=False); daemon.restart(); daemon.stop()
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

from sim.waiting import eventually

VPCD_DRIVER = "/usr/lib/pcsc/drivers/serial/libifdvpcd.so"
START_TIMEOUT = 10.0


def _free_port_pair() -> int:
    """A port p such that p and p+1 are free on loopback (vpcd has two slots)."""
    for _ in range(200):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        if port >= 65535:
            continue
        try:
            with socket.socket() as a, socket.socket() as b:
                a.bind(("0.0.0.0", port))
                b.bind(("0.0.0.0", port + 1))
        except OSError:
            continue
        return port
    raise RuntimeError("no free port pair for vpcd")


#: How pcscd (with libccid) names common contactless readers, before its " 00 00" slot
#: suffix: the USB product string, and for composite devices the interface in brackets.
CONTACTLESS_READERS = {
    "rc-s300": "SONY FeliCa RC-S300/P",
    "acr1252u": "ACS ACR1252 Dual Reader [ACR1252 Dual Reader PICC]",
}


class PrivatePcscd:
    """pcscd with the vpcd reader in its own mount namespace (see the module docstring)."""

    #: The reader name pcscd makes of reader.conf's FRIENDLYNAME: "<name> 00 00", slot 1
    #: "<name> 00 01". ``friendly_name`` presents the vpcd reader under a real reader's
    #: name, e.g. ``CONTACTLESS_READERS["rc-s300"]``.
    reader_name = "Virtual PCD 00 00"
    second_reader_name = "Virtual PCD 00 01"

    def __init__(self, base: Path, port: int | None = None, friendly_name: str = "") -> None:
        self.base = base
        self.port = port or _free_port_pair()
        self.run_dir = base / "run"
        self.conf_dir = base / "conf"
        self.socket_path = self.run_dir / "pcscd.comm"
        self.log_path = base / "pcscd.log"
        self._proc: subprocess.Popen[bytes] | None = None
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.conf_dir.mkdir(parents=True, exist_ok=True)
        self._name(friendly_name)

    def _name(self, friendly_name: str) -> None:
        if '"' in friendly_name or "\n" in friendly_name:
            raise ValueError("a reader name cannot hold quotes or line breaks")
        name = friendly_name or "Virtual PCD"
        self.reader_name, self.second_reader_name = f"{name} 00 00", f"{name} 00 01"
        self._reader_conf = (
            f'FRIENDLYNAME "{name}"\n'
            f"DEVICENAME /dev/null:0x{self.port:x}\n"
            f"LIBPATH {VPCD_DRIVER}\nCHANNELID 0x{self.port:x}\n"
        )

    @contextlib.contextmanager
    def presenting_as(self, friendly_name: str) -> Iterator[None]:
        """Restart pcscd with the vpcd reader named like a real one, then as before.

        (One process can talk to one pcscd only: pcsc-lite reads its socket name once.)
        """
        before = self.reader_name.removesuffix(" 00 00")
        self.stop()
        self._name(friendly_name)
        try:
            self.start()
            yield
        finally:
            self.stop()
            self._name(before)
            self.start()

    @property
    def env(self) -> dict[str, str]:
        """Environment for a subprocess that must use this pcscd."""
        return {**os.environ, "PCSCLITE_CSOCK_NAME": str(self.socket_path)}

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, with_reader: bool = True) -> None:
        """Start pcscd and wait until it lists the vpcd reader (or answers, without it).

        ``with_reader=False`` starts it with no reader configured: to the kiosk that
        looks like the reader being unplugged.
        """
        for stale in ("pcscd.comm", "pcscd.pid", "pcscd.pub"):
            (self.run_dir / stale).unlink(missing_ok=True)
        (self.conf_dir / "vpcd").write_text(self._reader_conf if with_reader else "")
        script = (
            f"mkdir -p /run/pcscd && mount --bind '{self.run_dir}' /run/pcscd "
            f"&& exec pcscd --foreground --config '{self.conf_dir}'"
        )
        log = self.log_path.open("ab")
        self._proc = subprocess.Popen(
            ["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()
        if with_reader:
            self._wait(lambda: self.reader_name in self.readers(), "pcscd to list the reader")
        else:
            self._wait(self.answers, "pcscd to answer")

    def answers(self) -> bool:
        """pcscd takes a PC/SC context."""
        from smartcard import scard

        if not self.socket_path.exists():
            return False
        hr, ctx = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
        if hr == scard.SCARD_S_SUCCESS:
            scard.SCardReleaseContext(ctx)
        return hr == scard.SCARD_S_SUCCESS

    def kill(self) -> None:
        """Kill pcscd (SIGKILL, as a crash would)."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(START_TIMEOUT)

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(START_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(START_TIMEOUT)

    def restart(self) -> None:
        self.kill()
        self.start()

    def readers(self) -> list[str]:
        """Reader names as pcscd lists them now ([] when it is not answering)."""
        from smartcard import scard

        if not self.socket_path.exists():
            return []
        hr, ctx = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
        if hr != scard.SCARD_S_SUCCESS:
            return []
        try:
            hr, names = scard.SCardListReaders(ctx, [])
            return list(names) if hr == scard.SCARD_S_SUCCESS else []
        finally:
            scard.SCardReleaseContext(ctx)

    def card_present(self, reader: str | None = None) -> bool:
        from smartcard import scard

        hr, ctx = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
        if hr != scard.SCARD_S_SUCCESS:
            return False
        try:
            hr, states = scard.SCardGetStatusChange(
                ctx, 0, [(reader or self.reader_name, scard.SCARD_STATE_UNAWARE)]
            )
            return hr == scard.SCARD_S_SUCCESS and bool(states[0][1] & scard.SCARD_STATE_PRESENT)
        finally:
            scard.SCardReleaseContext(ctx)

    def wait_card(
        self, present: bool = True, timeout: float = START_TIMEOUT, reader: str | None = None
    ) -> None:
        """Wait until pcscd sees a card in (or no card in) a vpcd reader (slot 0 by default)."""
        self._wait(lambda: self.card_present(reader) == present, f"card present={present}", timeout)

    def reader_for_port(self, port: int) -> str:
        """The reader name of the vpcd slot listening on ``port``."""
        return self.second_reader_name if port == self.port + 1 else self.reader_name

    def _wait(self, condition: Callable[[], bool], what: str, timeout: float = START_TIMEOUT):
        def alive_and_done() -> bool:
            if self._proc is not None and self._proc.poll() is not None:
                raise RuntimeError(f"pcscd exited: {self.log_path.read_text()[-2000:]}")
            return condition()

        eventually(alive_and_done, timeout, what)
