"""How bytes reach a receipt printer: a serial port, the USB printer class, or raw TCP.

One encoder (``drivers/escpos.py``), one driver (``drivers/printer.py``), and transports
that only move bytes, as python-escpos keeps its ``Serial``/``Usb``/``Network`` classes
apart from its command language. Each is bidirectional, so the driver's ``DLE EOT``
status queries and ``GS r`` answers work the same on all three:

- :class:`SerialTransport`: RS-232 or a USB-serial adapter (pyserial), ``/dev/ttyUSB0``;
- :class:`UsbPrinterTransport`: the kernel's USB printer class driver (``usblp``),
  ``/dev/usb/lp0``, opened read/write; reads and writes are non-blocking with a
  deadline (``select``), since a printer may have nothing to say;
- :class:`NetworkTransport`: a network printer's raw port (TCP 9100, "JetDirect").

A transport raises ``OSError`` when the printer is gone (unplugged, connection
refused or reset) and :class:`WriteTimeout` when the printer stops taking bytes; the
driver turns both into its typed errors.

    >>> transport = open_transport("network", "192.0.2.10:9100")
    >>> transport.address
    '192.0.2.10:9100'
"""

from __future__ import annotations

import errno
import os
import select
import socket
import time
from typing import Protocol

import serial

from drivers.printer_status import TRANSPORTS, transmission_seconds

RAW_TCP_PORT = 9100
READ_CHUNK = 4096


class WriteTimeout(Exception):
    """The printer took no more bytes before the deadline (flow control held, buffer full)."""


class Transport(Protocol):
    kind: str
    address: str

    def open(self) -> None: ...
    def close(self) -> None: ...
    def write(self, data: bytes, timeout: float) -> None: ...
    def read(self, limit: int, timeout: float) -> bytes: ...
    def pending(self) -> bytes: ...
    def seconds_on_wire(self, n_bytes: int) -> float: ...


class SerialTransport:
    """A serial port (pyserial): 8N1 at ``baudrate``, optional RTS/CTS flow control."""

    kind = "serial"

    def __init__(self, port: str, baudrate: int = 115200, rtscts: bool = False) -> None:
        self.address, self.baudrate, self.rtscts = port, baudrate, rtscts
        self._port: serial.Serial | None = None

    def open(self) -> None:
        if self._port is None:
            self._port = serial.Serial(self.address, self.baudrate, timeout=1, rtscts=self.rtscts)

    def close(self) -> None:
        port, self._port = self._port, None
        if port is not None:
            try:
                port.close()
            except OSError:
                pass

    def _opened(self) -> serial.Serial:
        self.open()
        assert self._port is not None
        return self._port

    def write(self, data: bytes, timeout: float) -> None:
        port = self._opened()
        port.write_timeout = timeout
        try:
            port.write(data)
            port.flush()
        except serial.SerialTimeoutException as exc:
            raise WriteTimeout(str(exc)) from exc

    def read(self, limit: int, timeout: float) -> bytes:
        port = self._opened()
        port.timeout = timeout
        return port.read(1) + (port.read(min(port.in_waiting, limit - 1)) if limit > 1 else b"")

    def pending(self) -> bytes:
        port = self._opened()
        return port.read(port.in_waiting) if port.in_waiting else b""

    def seconds_on_wire(self, n_bytes: int) -> float:
        return transmission_seconds(n_bytes, self.baudrate)


class _FileDescriptorIO:
    """Non-blocking reads and writes with a deadline on a file descriptor or socket."""

    def _fd(self) -> int:
        raise NotImplementedError

    def _send(self, data: memoryview) -> int:
        raise NotImplementedError

    def _receive(self, limit: int) -> bytes:
        raise NotImplementedError

    def write(self, data: bytes, timeout: float) -> None:
        view, deadline = memoryview(data), time.monotonic() + timeout
        while view:
            left = deadline - time.monotonic()
            if left <= 0:
                raise WriteTimeout(f"{len(view)} of {len(data)} bytes not taken in {timeout:.0f} s")
            _, writable, _ = select.select([], [self._fd()], [], left)
            if not writable:
                continue
            try:
                view = view[self._send(view) :]
            except BlockingIOError:
                continue

    def read(self, limit: int, timeout: float) -> bytes:
        ready, _, _ = select.select([self._fd()], [], [], max(timeout, 0))
        if not ready:
            return b""
        try:
            return self._receive(limit)
        except BlockingIOError:
            return b""

    def pending(self) -> bytes:
        out = bytearray()
        while chunk := self.read(READ_CHUNK, 0):
            out += chunk
        return bytes(out)

    def seconds_on_wire(self, n_bytes: int) -> float:
        return 0.0  # USB and Ethernet move a receipt in milliseconds; the paper is slower


class UsbPrinterTransport(_FileDescriptorIO):
    """The USB printer class device (``/dev/usb/lpN``), opened read/write, non-blocking.

    usblp is bidirectional for printers with a bidirectional interface (every ESC/POS
    receipt printer we know): what the printer sends back (``DLE EOT`` answers) is read
    from the same character device. A pulled cable makes reads and writes fail with
    ENODEV/EIO, which the driver reports as disconnected."""

    kind = "usb"

    def __init__(self, device: str) -> None:
        self.address = device
        self._handle: int | None = None

    def open(self) -> None:
        if self._handle is None:
            self._handle = os.open(self.address, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)

    def close(self) -> None:
        handle, self._handle = self._handle, None
        if handle is not None:
            try:
                os.close(handle)
            except OSError:
                pass

    def _fd(self) -> int:
        self.open()
        assert self._handle is not None
        return self._handle

    def _send(self, data: memoryview) -> int:
        return os.write(self._fd(), data)

    def _receive(self, limit: int) -> bytes:
        data = os.read(self._fd(), limit)
        if not data:  # end of file: the device went away
            raise OSError(errno.ENODEV, f"{self.address} returned end of file")
        return data


class NetworkTransport(_FileDescriptorIO):
    """A network printer's raw TCP port (9100). The connection is opened on first use
    and kept; the printer closing or resetting it is a disconnect."""

    kind = "network"

    def __init__(self, host: str, port: int = RAW_TCP_PORT, connect_timeout: float = 3.0) -> None:
        self.host, self.port, self.connect_timeout = host, port, connect_timeout
        self.address = f"{host}:{port}"
        self._socket: socket.socket | None = None

    def open(self) -> None:
        if self._socket is None:
            sock = socket.create_connection((self.host, self.port), timeout=self.connect_timeout)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # status queries at once
            sock.setblocking(False)
            self._socket = sock

    def close(self) -> None:
        sock, self._socket = self._socket, None
        if sock is not None:
            sock.close()

    def _opened(self) -> socket.socket:
        self.open()
        assert self._socket is not None
        return self._socket

    def _fd(self) -> int:
        return self._opened().fileno()

    def _send(self, data: memoryview) -> int:
        return self._opened().send(data)

    def _receive(self, limit: int) -> bytes:
        data = self._opened().recv(limit)
        if not data:
            raise ConnectionResetError(errno.ECONNRESET, f"{self.address} closed the connection")
        return data


def parse_network_address(address: str) -> tuple[str, int]:
    """``"host"`` or ``"host:port"`` (``"[::1]:9100"`` for IPv6) as (host, port)."""
    host, sep, port = address.rpartition(":")
    if not sep or "]" in port:
        return address.strip("[]"), RAW_TCP_PORT
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"network printer address {address!r}: port must be 1..65535")
    return host.strip("[]"), int(port)


def open_transport(
    kind: str, address: str, *, baudrate: int = 115200, rtscts: bool = False
) -> Transport:
    """The transport of ``kind`` to ``address`` (a device path, or host[:port])."""
    if kind == "serial":
        return SerialTransport(address, baudrate, rtscts)
    if kind == "usb":
        return UsbPrinterTransport(address)
    if kind == "network":
        return NetworkTransport(*parse_network_address(address))
    raise ValueError(f"printer transport must be one of {TRANSPORTS}, got {kind!r}")
