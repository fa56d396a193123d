"""How central's HTTP is served: uvicorn's h11 protocol behind our own accept loop.

uvicorn sets none of the limits a service on the open network needs (issue 12, findings
1 and 7): its listener is ``loop.create_server`` with asyncio's 60 s TLS handshake
timeout, no cap on connections (a flood uses up the file descriptors, and asyncio then
logs every failed ``accept``), and no deadline for a request head or body. So
:class:`CentralServer` keeps uvicorn for HTTP/1.1, the ASGI cycle, lifespan and graceful
shutdown, and replaces only how connections are accepted:

- at most ``max_connections`` at once (counted from ``accept``, so connections still in
  the TLS handshake count), at most ``max_connections_per_ip`` from one address; the
  cap is kept well below the file-descriptor limit, which is raised to its hard limit at
  start (:func:`raise_fd_limit`). At the cap, new connections wait in the kernel's
  backlog; nothing is logged per connection (one line a minute at most);
- ``loop.connect_accepted_socket(..., ssl_handshake_timeout=)``: public asyncio API;
- :class:`GuardedH11Protocol`: a request head must be complete within
  ``header_timeout`` of its first byte, its body within ``body_timeout`` of the head (a
  total deadline, so a 1 byte/s trickle is cut), and a connection with no request in
  flight is closed after ``keepalive_timeout`` (also before its first request).

It relies on uvicorn's ``Server.startup`` / ``shutdown`` contract and on ``H11Protocol``'s
attributes (``cycle``, ``conn``, ``timeout_keep_alive_task``, ``on_response_complete``),
which is why setup.cfg pins uvicorn to one minor version (docs/decisions.md).

Behind nginx (the production mode, ``central/deploy/nginx.conf``) central listens on a
unix socket instead, and :class:`ProxiedH11Protocol` takes the kiosk's identity from the
certificate nginx verified and passed in :data:`CLIENT_CERT_HEADER`; only there: the TCP
listener never reads that header.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import resource
import socket
import stat
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import uvicorn
from cryptography import x509
from cryptography.x509.oid import NameOID
from uvicorn.config import STARTUP_FAILURE
from uvicorn.protocols.http.h11_impl import H11Protocol

from central.errors import CentralConfigError

log = logging.getLogger("central")

#: File descriptors kept free of connections: the database, CRL and key files, logs.
FD_RESERVE = 64
#: The header nginx sets to ``$ssl_client_escaped_cert`` (the verified client certificate,
#: URL-escaped PEM), and the one it sets to ``$ssl_client_verify``.
CLIENT_CERT_HEADER = b"x-mynapoint-client-cert"
CLIENT_VERIFY_HEADER = b"x-mynapoint-client-verify"


@dataclass(frozen=True)
class Limits:
    """What one central process allows; ``[limits]`` in central.toml (central/config.py)."""

    max_connections: int = 2048
    max_connections_per_ip: int = 256  # 0: no per-address cap
    tls_handshake_timeout: float = 5.0
    header_timeout: float = 10.0
    body_timeout: float = 60.0
    keepalive_timeout: float = 10.0

    def check(self) -> None:
        for name in (
            "tls_handshake_timeout",
            "header_timeout",
            "body_timeout",
            "keepalive_timeout",
        ):
            if not getattr(self, name) > 0:
                raise CentralConfigError(f"config [limits] {name} must be more than 0 seconds")
        if self.max_connections < 1 or self.max_connections_per_ip < 0:
            raise CentralConfigError("config [limits] connection caps must be positive")


def raise_fd_limit() -> int:
    """Raise RLIMIT_NOFILE's soft limit to its hard limit; the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
    if target > soft:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def connection_cap(limits: Limits, fd_limit: int) -> int:
    """``max_connections``, lowered to fit in the file descriptors (``FD_RESERVE`` kept)."""
    room = fd_limit - FD_RESERVE
    if room < 8:
        raise CentralConfigError(
            f"only {fd_limit} file descriptors: raise LimitNOFILE (at least {FD_RESERVE + 8})"
        )
    if limits.max_connections > room:
        log.warning(
            "connection_cap_lowered max_connections=%d fd_limit=%d cap=%d",
            limits.max_connections,
            fd_limit,
            room,
        )
    return min(limits.max_connections, room)


# -- the kiosk's identity -------------------------------------------------------------
def common_name(peercert: dict[str, Any] | None) -> str | None:
    """The CN of a certificate as ``ssl.SSLSocket.getpeercert()`` returns it."""
    for rdn in (peercert or {}).get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                return value
    return None


def proxied_common_name(headers: list[tuple[bytes, bytes]]) -> str | None:
    """The CN of the client certificate nginx verified, from its headers; None if absent."""
    values = dict(headers)
    if values.get(CLIENT_VERIFY_HEADER) != b"SUCCESS" or CLIENT_CERT_HEADER not in values:
        return None
    try:
        pem = unquote(values[CLIENT_CERT_HEADER].decode("ascii")).encode("ascii")
        names = x509.load_pem_x509_certificate(pem).subject.get_attributes_for_oid(
            NameOID.COMMON_NAME
        )
    except ValueError:
        return None
    return str(names[0].value) if names else None


# -- the HTTP protocol ------------------------------------------------------------------
class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with deadlines for a request's head and body."""

    limits: Limits = Limits()

    def connection_made(self, transport: Any) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._deadline: asyncio.TimerHandle | None = None
        self._phase: str | None = None
        self._watched: Any = None
        self.on_closed: Callable[[], None] | None = getattr(self, "on_closed", None)
        # Idle until the first byte, as between requests (uvicorn's keep-alive timer).
        self.timeout_keep_alive_task = self.loop.call_later(
            self.timeout_keep_alive, self.timeout_keep_alive_handler
        )

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel()
        super().connection_lost(exc)
        if self.on_closed is not None:
            self.on_closed()

    def data_received(self, data: bytes) -> None:
        if self._phase is None and (self.cycle is None or self.cycle.response_complete):
            self._arm("head", self.limits.header_timeout)
        super().data_received(data)
        self._follow()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._follow()

    def _follow(self) -> None:
        cycle = self.cycle
        if cycle is None:
            return
        if cycle is not self._watched:  # a new request head was parsed
            self._watched = cycle
            self._cancel()
            if cycle.more_body:
                self._arm("body", self.limits.body_timeout)
        elif self._phase == "body" and not cycle.more_body:
            self._cancel()

    def _arm(self, phase: str, seconds: float) -> None:
        self._cancel()
        self._phase = phase
        self._deadline = self.loop.call_later(seconds, self._expired)

    def _cancel(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        self._deadline, self._phase = None, None

    def _expired(self) -> None:
        """Too slow: the connection is dropped (a handler reading the body sees a
        disconnect); counted, not logged one by one."""
        self._deadline = None
        LIMIT_EVENTS[f"{self._phase}_timeout"] += 1
        if not self.transport.is_closing():
            self.transport.abort()


class MutualTlsH11Protocol(GuardedH11Protocol):
    """The TCP listener: the kiosk is the CN of its TLS client certificate."""

    def connection_made(self, transport: Any) -> None:  # type: ignore[override]
        super().connection_made(transport)
        ssl_object = transport.get_extra_info("ssl_object")
        kiosk_id = common_name(ssl_object.getpeercert() if ssl_object else None)
        app = self.app

        async def app_with_tls(scope: Any, receive: Any, send: Any) -> None:
            scope.setdefault("extensions", {})["tls"] = {"client_cert_cn": kiosk_id}
            await app(scope, receive, send)

        self.app = app_with_tls


class ProxiedH11Protocol(GuardedH11Protocol):
    """The unix socket behind nginx: the kiosk is the CN of the certificate nginx verified."""

    def connection_made(self, transport: Any) -> None:  # type: ignore[override]
        super().connection_made(transport)
        app = self.app

        async def app_with_proxied_tls(scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] == "http":
                kiosk_id = proxied_common_name(scope["headers"])
                scope.setdefault("extensions", {})["tls"] = {"client_cert_cn": kiosk_id}
            await app(scope, receive, send)

        self.app = app_with_proxied_tls


#: Connections cut by a limit since start: ``head_timeout``, ``body_timeout``,
#: ``per_ip_cap``, ``handshake_failed``.
LIMIT_EVENTS: Counter[str] = Counter()


# -- accepting connections ----------------------------------------------------------------
class CappedListener:
    """Accepts on ``sock`` while fewer than ``cap`` connections are open; a stand-in for
    ``asyncio.Server`` in uvicorn's ``Server.servers`` (``close`` / ``wait_closed``)."""

    def __init__(
        self,
        sock: socket.socket,
        protocol_factory: Callable[[], GuardedH11Protocol],
        ssl_context: Any,
        limits: Limits,
        cap: int,
    ) -> None:
        self._sock = sock
        self._factory = protocol_factory
        self._ssl = ssl_context
        self._limits = limits
        self._slots = asyncio.Semaphore(cap)
        self._cap = cap
        self._per_ip: Counter[str] = Counter()
        self._pending: set[asyncio.Task[None]] = set()
        self._last_warning = -1e9
        self._task = asyncio.get_running_loop().create_task(self._accept_loop())

    def close(self) -> None:
        self._task.cancel()
        for task in list(self._pending):
            task.cancel()
        self._sock.close()

    async def wait_closed(self) -> None:
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    def _warn(self, message: str, *args: Any) -> None:
        now = time.monotonic()
        if now - self._last_warning >= 60.0:
            self._last_warning = now
            counts = " ".join(f"{k}={v}" for k, v in sorted(LIMIT_EVENTS.items()))
            log.warning(f"{message} {counts}".rstrip(), *args)

    async def _accept_loop(self) -> None:
        loop = asyncio.get_running_loop()
        per_ip = self._limits.max_connections_per_ip
        while True:
            if self._slots.locked():
                self._warn("connection_cap_reached cap=%d", self._cap)
            await self._slots.acquire()
            try:
                conn, address = await loop.sock_accept(self._sock)
            except OSError as exc:
                self._slots.release()
                if exc.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    self._warn("accept_failed error=%s", errno.errorcode.get(exc.errno, "?"))
                    await asyncio.sleep(0.5)  # back off: the limit is the machine's
                continue
            ip = address[0] if isinstance(address, tuple) else ""
            if per_ip and ip and self._per_ip[ip] >= per_ip:
                LIMIT_EVENTS["per_ip_cap"] += 1
                conn.close()
                self._slots.release()
                continue
            self._per_ip[ip] += 1
            task = loop.create_task(self._serve(conn, ip))
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)

    async def _serve(self, conn: socket.socket, ip: str) -> None:
        released = False

        def release() -> None:
            nonlocal released
            if not released:
                released = True
                self._per_ip[ip] -= 1
                if self._per_ip[ip] <= 0:
                    del self._per_ip[ip]
                self._slots.release()

        def factory() -> GuardedH11Protocol:
            protocol = self._factory()
            protocol.on_closed = release
            return protocol

        tls: dict[str, Any] = {}
        if self._ssl is not None:
            tls = {
                "ssl": self._ssl,
                "ssl_handshake_timeout": self._limits.tls_handshake_timeout,
                "ssl_shutdown_timeout": self._limits.tls_handshake_timeout,
            }
        loop = asyncio.get_running_loop()
        try:
            await loop.connect_accepted_socket(factory, conn, **tls)
        except (OSError, asyncio.CancelledError):  # handshake failed, timed out, reset
            LIMIT_EVENTS["handshake_failed"] += 1
            conn.close()
            release()


def bind_unix_socket(path: Path, backlog: int) -> socket.socket:
    """A listening unix socket at ``path`` (mode 0660), in a directory that others cannot
    enter: whoever can connect to it is believed about the client certificate."""
    directory = path.parent
    try:
        mode = directory.stat().st_mode
    except OSError as exc:
        raise CentralConfigError(f"unix socket directory {directory}: {exc.strerror}") from exc
    if mode & (stat.S_IRWXO | stat.S_IWGRP):
        raise CentralConfigError(
            f"unix socket directory {directory} is mode {stat.S_IMODE(mode):o}: it must not"
            " be open to others (0750, group of nginx)"
        )
    with contextlib.suppress(FileNotFoundError):
        if stat.S_ISSOCK(path.lstat().st_mode):
            path.unlink()  # left by a previous run
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o117)
    try:
        sock.bind(str(path))
    finally:
        os.umask(old)
    sock.listen(backlog)
    sock.setblocking(False)
    return sock


def bind_tcp_socket(host: str, port: int, backlog: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP named, so accepted sockets carry it and asyncio turns Nagle off on them
    # (``base_events._set_nodelay`` checks ``sock.proto``): with Nagle on, h11's body write
    # waited for the ACK of its head write, which the client delays by 40 ms.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(backlog)
    sock.setblocking(False)
    return sock


class CentralServer(uvicorn.Server):
    """uvicorn's server with :class:`CappedListener` in place of ``loop.create_server``."""

    def __init__(
        self, config: uvicorn.Config, limits: Limits, unix_socket: Path | None = None
    ) -> None:
        super().__init__(config)
        self.limits = limits
        self.unix_socket = unix_socket

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await self.lifespan.startup()
        if self.lifespan.should_exit:
            sys.exit(STARTUP_FAILURE)
        config = self.config
        base = ProxiedH11Protocol if self.unix_socket else MutualTlsH11Protocol
        protocol_class = type(base.__name__, (base,), {"limits": self.limits})

        def create_protocol() -> GuardedH11Protocol:
            return protocol_class(
                config=config, server_state=self.server_state, app_state=self.lifespan.state
            )

        try:
            cap = connection_cap(self.limits, raise_fd_limit())
            if self.unix_socket:
                sock = bind_unix_socket(self.unix_socket, config.backlog)
                where, ssl_context = f"unix:{self.unix_socket}", None
            else:
                sock = bind_tcp_socket(config.host, config.port, config.backlog)
                where, ssl_context = f"https://{config.host}:{config.port}", config.ssl
        except (OSError, CentralConfigError) as exc:
            log.error("cannot listen: %s", exc)
            await self.lifespan.shutdown()
            sys.exit(STARTUP_FAILURE)
        self.servers = [CappedListener(sock, create_protocol, ssl_context, self.limits, cap)]
        log.info(
            "central_listening on=%s max_connections=%d handshake=%ss head=%ss body=%ss"
            " keepalive=%ss",
            where,
            cap,
            self.limits.tls_handshake_timeout,
            self.limits.header_timeout,
            self.limits.body_timeout,
            self.limits.keepalive_timeout,
        )
        self.started = True
