"""Tell systemd how the kiosk is doing: the sd_notify protocol, and a watchdog pinger.

systemd hands a ``Type=notify`` service the path of a datagram socket in
``NOTIFY_SOCKET`` (a file path, or an abstract socket written ``@name``); each
message is newline-separated ``KEY=VALUE`` lines. Outside systemd (tests, the
demo, a developer's shell) ``NOTIFY_SOCKET`` is unset and every call here is a
no-op that returns False. Nothing here raises: a lost notification must never
take the kiosk down.

The watchdog: with ``WatchdogSec=`` set, systemd passes ``WATCHDOG_USEC`` (and
``WATCHDOG_PID``) and restarts the service when no ``WATCHDOG=1`` arrives within
that time. :class:`WatchdogPinger` pings at half of it, but only when its
:meth:`~WatchdogPinger.tick` is called, so the pings come from the loop whose
liveness they vouch for: the Kivy clock in the UI, the main loop in the sync
worker. A frozen UI stops ticking, stops pinging, and gets restarted.

In the kiosk app (on the Kivy main thread; the Kivy-clock starters live in
``screens/clock.py``, since Kivy is imported in ``screens/`` alone)::

    from screens import clock
    clock.start_kivy_watchdog()                     # once, in App.on_start
    clock.ready_on_next_flip(Window, "welcome")    # when the welcome screen is shown
    notify.stopping()                               # in App.on_stop

In a worker's loop (the sync worker speaks the protocol itself: ``offline_queue`` may
not import ``kiosk``)::

    pinger = notify.WatchdogPinger.from_environment()
    notify.ready("syncing")
    while not stop.is_set():
        sync_some()            # each blocking call must end well within WatchdogSec / 2
        pinger.idle(stop, poll_seconds)   # waits, pinging, until the next round
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

NOTIFY_SOCKET_ENV = "NOTIFY_SOCKET"
WATCHDOG_USEC_ENV = "WATCHDOG_USEC"
WATCHDOG_PID_ENV = "WATCHDOG_PID"

#: The pinger's rate limit, as a share of its interval: ticks closer together than
#: this are not sent (a loop may tick on every item without flooding systemd), while
#: a clock callback scheduled every ``interval`` pings each time despite jitter.
_MIN_GAP_SHARE = 0.5


def _socket_address(value: str) -> str | bytes | None:
    """The address for NOTIFY_SOCKET: a path, or an abstract name ('@' → NUL)."""
    if value.startswith("@"):
        return b"\0" + value[1:].encode()
    if value.startswith("/"):
        return value
    return None  # e.g. 'vsock:' (systemd ≥ 254, VMs): not used on a kiosk


def notify(state: str, *, environ: dict[str, str] | None = None) -> bool:
    """Send one sd_notify message (newline-separated ``KEY=VALUE`` lines).

    Returns True when the datagram was sent, False when there is no systemd to
    tell (NOTIFY_SOCKET unset) or the send failed; never raises.
    """
    env = os.environ if environ is None else environ
    raw = env.get(NOTIFY_SOCKET_ENV, "")
    if not raw:
        return False
    address = _socket_address(raw)
    if address is None:
        log.warning("notify: unsupported NOTIFY_SOCKET form, ignoring")
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall(state.encode())
    except OSError as error:
        log.warning("notify: send failed: %s", error.__class__.__name__)
        return False
    return True


def _status_line(text: str) -> str:
    return "STATUS=" + " ".join(text.split())  # one line, whatever the caller passed


def ready(status: str | None = None) -> bool:
    """Startup is complete (the kiosk: the welcome screen is on the display)."""
    return notify("READY=1" + (f"\n{_status_line(status)}" if status else ""))


def status(text: str) -> bool:
    """A one-line status shown by ``systemctl status`` (event names only, no personal data)."""
    return notify(_status_line(text))


def watchdog() -> bool:
    """Tell the watchdog the service is alive."""
    return notify("WATCHDOG=1")


def stopping(status: str | None = None) -> bool:
    """The service is shutting down on purpose."""
    return notify("STOPPING=1" + (f"\n{_status_line(status)}" if status else ""))


def extend_timeout(seconds: float) -> bool:
    """Ask for more start (or stop) time, e.g. while a slow display comes up."""
    return notify(f"EXTEND_TIMEOUT_USEC={int(seconds * 1_000_000)}")


def watchdog_interval(environ: dict[str, str] | None = None) -> float | None:
    """Seconds between pings (half of WATCHDOG_USEC), or None when no watchdog is for us."""
    env = os.environ if environ is None else environ
    try:
        usec = int(env.get(WATCHDOG_USEC_ENV, ""))
    except ValueError:
        return None
    pid = env.get(WATCHDOG_PID_ENV)
    if usec <= 0 or (pid and pid != str(os.getpid())):
        return None  # no watchdog, or it watches another process (e.g. our parent)
    return usec / 2_000_000


class WatchdogPinger:
    """Pings the systemd watchdog from a periodic callback, at half of WATCHDOG_USEC.

    Disabled (``enabled`` False, ticks do nothing) when no watchdog is configured.
    """

    def __init__(
        self,
        interval: float | None,
        send: Callable[[], bool] = watchdog,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self.interval = interval
        self._send = send
        self._now = now
        self._last_ping: float | None = None
        self.last_tick: float | None = None

    @classmethod
    def from_environment(cls, environ: dict[str, str] | None = None) -> WatchdogPinger:
        return cls(watchdog_interval(environ))

    @property
    def enabled(self) -> bool:
        return self.interval is not None

    def tick(self) -> bool:
        """Call from the loop being watched; pings when one is due. Returns True if sent.

        Not a Kivy clock callback as it is: Kivy cancels an interval whose callback
        returns False (as a tick that was not due does). Use ``screens.clock.start_kivy_watchdog``.
        """
        now = self._now()
        self.last_tick = now
        if self.interval is None:
            return False
        if self._last_ping is not None and now - self._last_ping < self.interval * _MIN_GAP_SHARE:
            return False
        self._last_ping = now
        return self._send()

    def idle(self, stop: threading.Event, seconds: float) -> bool:
        """Wait up to ``seconds`` (the loop's pause), ticking on time. True if ``stop`` was set."""
        deadline = self._now() + seconds
        while True:
            self.tick()
            left = deadline - self._now()
            if left <= 0:
                return stop.is_set()
            step = left if self.interval is None else min(left, self.interval)
            if stop.wait(step):
                return True
