"""The kiosk's loops that run on the Kivy clock: the systemd watchdog, READY, heartbeats.

A callback that blocks the main thread blocks the clock, so a frozen UI stops
pinging and systemd restarts it. The protocols themselves are pure and live in
``kiosk/notify.py`` and ``kiosk/heartbeat.py``; only the scheduling is here, since
Kivy is imported in ``screens/`` alone. Each starter takes an optional ``clock``
(anything with ``schedule_interval``) so it runs without a window in tests.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kiosk import heartbeat as heartbeat_module
from kiosk import notify


def start_kivy_watchdog(clock: Any = None) -> notify.WatchdogPinger:
    """Ping the watchdog from the Kivy clock (call on the Kivy main thread).

    A callback that blocks the main thread blocks the clock, so the pings stop and
    systemd restarts the kiosk. Returns the pinger (``last_tick`` tells when the UI
    loop last ran). Does nothing when no watchdog is configured.
    """
    pinger = notify.WatchdogPinger.from_environment()
    if pinger.interval is not None:
        if clock is None:
            from kivy.clock import Clock as clock  # noqa: N813

        def ping(_dt: float) -> None:
            # Returns None: Kivy cancels an interval whose callback returns False. And a
            # closure, not the bound method: Kivy holds methods weakly.
            pinger.tick()

        pinger.tick()
        clock.schedule_interval(ping, pinger.interval)
    return pinger


def ready_on_next_flip(window: Any, status: str | None = None) -> None:
    """Send READY=1 once the welcome screen has reached the display: with the second
    frame from now (Kivy ``on_flip``), the first asking for it.

    Call after switching to the welcome screen: READY then means "drawn", not "built".
    Why the second: under qemu's virtio-gpu (SDL kmsdrm, Mesa llvmpipe) the first frame
    after SDL's mode set never reached the scanout, and a welcome screen at rest draws
    no other, so the appliance showed black for good (docs/appliance.md).
    """
    flips = 0

    def _on_flip(*_: Any) -> None:
        nonlocal flips
        flips += 1
        if flips == 1:
            window.canvas.ask_update()  # one more frame, though nothing changed
            return
        window.unbind(on_flip=_on_flip)
        notify.ready(status)

    window.bind(on_flip=_on_flip)


TRAILING_FRAME_S = 0.05


def redraw_after_changes(window: Any, clock: Any = None, delay: float = TRAILING_FRAME_S) -> Any:
    """One more frame ``delay`` after each run of frames ends ([display] trailing_frame).

    For a display that shows each frame only once the next one is drawn: under qemu's
    virtio-gpu (SDL kmsdrm, Mesa llvmpipe) the last frame of every change (a label's
    text, a PIN dot, the welcome's notice) stayed off the screen until something else
    redrew (docs/appliance.md). The extra frame's own flip asks for none, so a screen at
    rest draws nothing. Returns the trigger (``.cancel()`` it to stop one pending).
    """
    if clock is None:
        from kivy.clock import Clock as clock  # noqa: N813
    trailer = [False]  # the next flip is the extra frame's

    def redraw(_dt: float) -> None:
        trailer[0] = True
        window.canvas.ask_update()

    trigger = clock.create_trigger(redraw, delay)

    def on_flip(*_: Any) -> None:
        if trailer[0]:
            trailer[0] = False
            return
        trigger()

    window.bind(on_flip=on_flip)
    return trigger


def start_heartbeat(
    heartbeat: Any,
    collect: Callable[[], Any],
    interval_s: float = heartbeat_module.INTERVAL_S,
    clock: Any = None,
) -> Any:
    """Report now and every ``interval_s`` from the Kivy clock (call on the main thread).

    ``collect`` runs on the Kivy thread (it reads the outbox and the device status the
    UI already holds); the post runs on the heartbeat's own thread. Returns the clock
    event (``.cancel()`` it to stop).
    """
    if clock is None:
        from kivy.clock import Clock as clock  # noqa: N813

    def report(_dt: float) -> None:  # None: a callback returning False is unscheduled
        heartbeat_module.send_collected(heartbeat, collect)

    report(0.0)
    return clock.schedule_interval(report, interval_s)
