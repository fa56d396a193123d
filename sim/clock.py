"""A clock a test can move forward, so it never sleeps to let time pass.

Code that waits for time (a Retry-After window, a backoff, a deadline) takes a
``clock`` argument (``time.time`` or ``time.monotonic`` by default). A test passes a
:class:`SkipAheadClock` instead: it reads like the real clock, so times written by
other parts (the kiosk's enqueue, a central answer) still compare as they would,
and :meth:`~SkipAheadClock.skip` moves it ahead at once.

    >>> clock = SkipAheadClock()
    >>> before = clock()
    >>> clock.skip(3600)
    >>> clock() - before >= 3600
    True
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class SkipAheadClock:
    """``base()`` plus every skip so far; callable like ``time.time``."""

    def __init__(self, base: Callable[[], float] = time.time) -> None:
        self._base = base
        self._ahead = 0.0
        self._lock = threading.Lock()
        self._listeners: list[Callable[[], None]] = []

    def __call__(self) -> float:
        with self._lock:
            return self._base() + self._ahead

    def skip(self, seconds: float) -> None:
        """Move the clock ``seconds`` ahead now; whoever waits on it is told (``on_skip``)."""
        with self._lock:
            self._ahead += seconds
            listeners = list(self._listeners)
        for listener in listeners:
            listener()

    def on_skip(self, listener: Callable[[], None]) -> None:
        """Call ``listener()`` after every skip (a timer thread re-reads the clock then)."""
        with self._lock:
            self._listeners.append(listener)
