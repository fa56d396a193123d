"""Calls from device worker threads come back to the Kivy (main) thread here.

Kivy widgets and GL may only be touched from the thread that runs the event
loop. The card and printer workers finish on their own threads; whatever they
want to tell the screens goes through :func:`on_ui_thread`, which re-posts the
call onto the Kivy clock (``Clock.schedule_once``), or runs it at once when the
caller already is the UI thread (so tests and UI code see no extra frame)::

    @on_ui_thread
    def card_read(self, result):
        self.show(result)      # always runs on the UI thread
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any, ParamSpec

from kivy.clock import Clock

P = ParamSpec("P")

_ui_thread_id: int = threading.main_thread().ident or 0


def mark_ui_thread() -> None:
    """Record the calling thread as the UI thread (the App calls this on start)."""
    global _ui_thread_id
    _ui_thread_id = threading.get_ident()


def is_ui_thread() -> bool:
    """True when the caller runs on the thread that owns the Kivy window."""
    return threading.get_ident() == _ui_thread_id


def post_to_ui(func: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
    """Run ``func(*args, **kwargs)`` on the UI thread: now if already there, else next frame."""
    if is_ui_thread():
        func(*args, **kwargs)
        return
    Clock.schedule_once(lambda _dt: func(*args, **kwargs), 0)


def on_ui_thread(func: Callable[P, Any]) -> Callable[P, None]:
    """Decorator: every call of ``func`` runs on the UI thread; the caller never waits."""

    @functools.wraps(func)
    def repost(*args: P.args, **kwargs: P.kwargs) -> None:
        post_to_ui(func, *args, **kwargs)

    return repost
