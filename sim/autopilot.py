"""Touches a running kiosk as a person would, through Kivy's input path, and takes pictures.

The demo (no display) and the UI tests drive the real app with a *script*: a
list of steps, each a small JSON-able list::

    ["wait", "choose_service"]      wait (up to 20 s) until that screen is shown
    ["tap", "service:waon"]         touch the visible button with that action
    ["type", "1234567890123456"]    touch the on-screen keyboard's keys
    ["pin", "1234"]                 touch the PIN keypad's digits, then 決定
    ["shot", "05_enter_ids"]        save a screenshot as <out>/05_enter_ids.png
    ["hook", "remove_card"]         call a host function (the virtual card, printer...)
    ["dump", "after_removal"]       record every text of every loaded screen
    ["frames", "busy", 3]           from now on, for 3 s, have every frame drawn and record
                                    the longest time between two (``frame_gaps["busy"]``)
    ["frames_done", "busy"]         wait until that watch is over
    ["sleep", 0.5]
    ["flag", "longer_times"]        wait until the view's flag is on (["flag", name, False]: off)
    ["gone", "service:rakuten_pay"] wait until that button is no longer on screen
    ["xkeys", "Escape", "alt+F4"]   type keys on the X display (xdotool), through X and SDL
                                    as a keyboard's would come, and wait until the window
                                    has had them all
    ["signal", "SIGINT"]            send this process a signal (Ctrl+C in a terminal)
    ["close_request"]               ask the window to close, as a window manager's close
                                    button or SDL's quit event (SIGINT) does

A touch is a :class:`Touch` (a ``MotionEvent``) posted to the event loop at the
centre of the widget, down then up: the same path a finger on the touch panel
takes. The autopilot records, for each touch that changed the screen, the time
until the next screen was drawn.
"""

from __future__ import annotations

import json
import os
import time
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from kivy.base import EventLoop
from kivy.clock import Clock
from kivy.core.window import WindowBase
from kivy.input.motionevent import MotionEvent
from kivy.uix.widget import Widget

DEFAULT_WAIT_SECONDS = 20.0
#: How long a finger stays down: a real tap, which a ScrollView passes on to its buttons.
TAP_SECONDS = 0.06
_touch_ids = iter(range(1_000_000))


class Touch(MotionEvent):
    """One finger: ``down()`` then ``up()`` at window coordinates."""

    def __init__(self, x: float, y: float) -> None:
        window = EventLoop.window
        super().__init__(
            "autopilot",
            next(_touch_ids),
            {"sx": x / max(1.0, window.width - 1.0), "sy": y / max(1.0, window.height - 1.0)},
            is_touch=True,
            type_id="touch",
        )
        self.profile = ["pos"]

    def depack(self, args: dict[str, float]) -> None:
        self.sx, self.sy = args["sx"], args["sy"]
        super().depack(args)

    def down(self) -> None:
        EventLoop.post_dispatch_input("begin", self)

    def up(self) -> None:
        EventLoop.post_dispatch_input("end", self)


def is_visible(widget: Widget) -> bool:
    """Drawn with a size, not transparent, not disabled, on the shown screen."""
    node: Any = widget
    while node is not None and not isinstance(node, WindowBase):
        if getattr(node, "opacity", 1) == 0 or getattr(node, "disabled", False):
            return False
        node = node.parent
    return widget.width > 1 and widget.height > 1


def buttons(root: Widget) -> Iterator[Widget]:
    """Everything a person can touch: widgets that name an ``action``."""
    for widget in root.walk(restrict=True):
        if isinstance(getattr(widget, "action", None), str):
            yield widget


def find_button(root: Widget, action: str) -> Widget | None:
    """The visible button with this action on the shown screen or the root's overlays."""
    for button in buttons(root):
        if button.action == action and is_visible(button):
            return button
    return None


def touch_targets(root: Widget) -> list[tuple[str, int, int]]:
    """(action, width, height) in pixels of everything a person can touch now."""
    return [(b.action, round(b.width), round(b.height)) for b in buttons(root) if is_visible(b)]


def press(widget: Widget) -> Touch:
    """Touch down at the widget's centre, through the event loop; ``up()`` it later."""
    x, y = widget.to_window(*widget.center)
    touch = Touch(x, y)
    touch.down()
    return touch


def texts_of(root: Widget) -> list[str]:
    """Every text a widget under ``root`` holds (labels, buttons, inputs, keyboards)."""
    found: list[str] = []
    for widget in root.walk(restrict=True):
        for name in ("text", "placeholder", "value", "label"):
            value = getattr(widget, name, None)
            if isinstance(value, str) and value:
                found.append(value)
        view = getattr(widget, "view", None)
        if isinstance(view, dict) and view:
            found.append(json.dumps(view, ensure_ascii=False, default=str))
        values = getattr(widget, "values", None)
        if isinstance(values, dict) and values:
            found.extend(str(v) for v in values.values())
    return found


class Autopilot:
    """Runs a script against the running app, one step per frame, and records what happened."""

    def __init__(
        self,
        app: Any,
        script: list[list[Any]],
        out_dir: Path,
        hooks: dict[str, Callable[..., Any]] | None = None,
        on_finish: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.app = app
        self.script = list(script)
        self.out_dir = Path(out_dir)
        self.hooks = hooks or {}
        self.on_finish = on_finish
        self.log: list[dict[str, Any]] = []
        self.screens_seen: list[str] = []
        self.touch_to_drawn: list[float] = []
        self.dumps: dict[str, dict[str, list[str]]] = {}
        self.flags: dict[str, dict[str, bool]] = {}  # the view's on/off flags, by label
        self.shots: dict[str, str] = {}
        self.targets: dict[str, list[tuple[str, int, int]]] = {}
        self.frame_gaps: dict[str, float] = {}
        self.overflow: dict[str, list[dict[str, Any]]] = {}
        self._frame_watches: dict[str, Any] = {}
        self.error: str | None = None
        self._pending_touch: float | None = None
        self._screen_changed = False
        self._steps: deque[list[Any]] = deque(self.script)
        self._step: list[Any] | None = None
        self._finger: Touch | None = None
        self._last_place: tuple[int, ...] | None = None  # where the button to tap was drawn
        self._finger_down_at = 0.0
        self._step_started = 0.0
        self._event = None
        self.keys_seen: list[int] = []  # every key the window got (on_key_down)
        self._xkeys_sent: int | None = None
        self._display = os.environ.get("DISPLAY", "")  # for xdotool, as the kiosk started

    # --- running --------------------------------------------------------------------------
    def start(self) -> None:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.app.listeners.append(self._on_app_event)
        from kivy.core.window import Window

        Window.bind(on_key_down=self._key_seen)  # bound last, so it sees each key first
        self._event = Clock.schedule_interval(self._run, 0)

    def _key_seen(self, _window: Any, key: int, *_args: Any) -> None:
        self.keys_seen.append(key)

    def _on_app_event(self, kind: str, name: str) -> None:
        if kind == "shown":
            self.screens_seen.append(name)
            self._screen_changed = True
        elif kind == "drawn" and self._screen_changed:
            self._screen_changed = False
            if self._pending_touch is not None:
                self.touch_to_drawn.append(time.perf_counter() - self._pending_touch)
                self._pending_touch = None

    def _run(self, _dt: float) -> bool | None:
        try:
            if self._finger is not None:
                if time.monotonic() - self._finger_down_at < TAP_SECONDS:
                    return None
                self._finger.up()
                self._finger = None
                return None
            while True:
                if self._step is None:
                    self._step = self._steps.popleft() if self._steps else None
                    self._step_started = time.monotonic()
                    if self._step is None:
                        self._finish()
                        return False
                if not self._do(self._step):
                    return None  # wait for a later frame
                self.log.append({"step": self._step[0], "t": time.monotonic()})
                kind, self._step = self._step[0], None
                if kind != "hook":
                    return None  # one step per frame, so the screen draws in between
        except Exception as error:  # the report says which step failed
            self.error = f"step {self._step!r}: {type(error).__name__}: {error}"
            self._finish()
            return False

    def _finish(self) -> None:
        if self._event is not None:
            self._event.cancel()
        if self.on_finish is not None:
            self.on_finish(self.report())

    def report(self) -> dict[str, Any]:
        return {
            "error": self.error,
            "screens_seen": self.screens_seen,
            "touch_to_drawn": self.touch_to_drawn,
            "dumps": self.dumps,
            "flags": self.flags,
            "shots": self.shots,
            "targets": self.targets,
            "frame_gaps": self.frame_gaps,
            "overflow": self.overflow,
            "steps_done": len(self.log),
            "first_step_at": self.log[0]["t"] if self.log else None,
            "keys_seen": self.keys_seen,
            "window_children": _window_children(),
        }

    # --- the steps ------------------------------------------------------------------------
    def _timed_out(self, seconds: float) -> bool:
        return time.monotonic() - self._step_started > seconds

    @property
    def current(self) -> Any:
        return self.app.manager.current_screen

    def _do(self, step: list[Any]) -> bool:
        kind, args = step[0], step[1:]
        handler = getattr(self, f"_step_{kind}", None)
        if handler is None:
            raise ValueError(f"unknown step {kind!r}")
        return handler(*args)

    def _step_wait(self, screen: str, seconds: float = DEFAULT_WAIT_SECONDS) -> bool:
        if self.app.manager.current == screen and not self._screen_changed:
            return True
        if self._timed_out(seconds):
            raise TimeoutError(f"screen {screen!r} not shown; showing {self.app.manager.current!r}")
        return False

    def _step_tap(self, action: str, seconds: float = DEFAULT_WAIT_SECONDS) -> bool:
        button = find_button(self.app.root, action)
        if button is None or not self._settled(button):
            if self._timed_out(seconds):
                raise LookupError(f"no visible button {action!r} on {self.app.manager.current!r}")
            return False
        self._pending_touch = time.perf_counter()
        self._finger = press(button)
        self._finger_down_at = time.monotonic()
        return True

    def _step_gone(self, action: str, seconds: float = DEFAULT_WAIT_SECONDS) -> bool:
        """Wait until no visible button ``action`` is left (a grid refilled after a
        category tap: the old buttons go before the next tap may take the new ones)."""
        if find_button(self.app.root, action) is None:
            return True
        if self._timed_out(seconds):
            raise TimeoutError(f"button {action!r} still on {self.app.manager.current!r}")
        return False

    def _settled(self, button: Widget) -> bool:
        """The button is where it will be drawn: in the window, at the same place and size
        as one frame ago. A widget just built (a grid refilled after a category tap) has
        Kivy's default 100x100 at (0, 0) until its layout runs, a frame or more later on a
        busy machine; a person can only touch what is drawn, so the tap waits for it."""
        from kivy.core.window import Window

        x, y = button.to_window(*button.center)
        place = (id(button), round(x), round(y), round(button.width), round(button.height))
        seen, self._last_place = self._last_place, place
        return place == seen and 0 <= x < Window.width and 0 <= y < Window.height

    def _then(self, steps: list[list[Any]]) -> bool:
        """Run ``steps`` next, before the rest of the script."""
        self._steps.extendleft(reversed(steps))
        return True

    def _step_type(self, text: str) -> bool:
        return self._then([["tap", f"key:{char}", 2] for char in text])

    def _step_pin(self, digits: str, submit: bool = True) -> bool:
        taps = [["tap", f"pin:{digit}", 2] for digit in digits]
        return self._then(taps + ([["tap", "pin_ok", 2]] if submit else []))

    def _step_shot(self, name: str) -> bool:
        # two frames after the last change, so what is saved is what a person sees
        if time.monotonic() - self._step_started < 0.15:
            return False
        self.shots[name] = str(save_screenshot(self.out_dir / f"{name}.png"))
        self.targets[name] = touch_targets(self.app.root)
        return True

    def _step_overflow(self, label: str) -> bool:
        """Every visible label whose drawn text is larger than the label (issue 10)."""
        if time.monotonic() - self._step_started < 0.15:  # laid out, as in _step_shot
            return False
        self.overflow[label] = overflowing_labels(self.app.root)
        return True

    def _step_key(self, key: int, scancode: int = 0, text: str | None = None) -> bool:
        """A key of a physical keypad, through the window as SDL delivers it."""
        from kivy.core.window import Window

        Window.dispatch("on_key_down", key, scancode, text, [])
        Window.dispatch("on_key_up", key, scancode)
        self._pending_touch = time.perf_counter()
        return True

    def _step_key_to(self, action: str, limit: int = 60) -> bool:
        """Press "down" on the keypad until the focus highlight is on ``action``."""
        for _ in range(limit):
            if self.app.focus_action == action:
                return True
            self._step_key(274)  # down
        raise LookupError(f"the focus never reached {action!r} on {self.app.manager.current!r}")

    def _step_keys(self, text: str) -> bool:
        """Digits (and '*', '#') typed on the keypad: the keypad's own key numbers."""
        for char in text:
            if char.isdigit():
                self._step_key(256 + int(char), 0, char)
            else:
                self._step_key(ord(char), 0, char)
        return True

    def _step_xkeys(self, *keys: str) -> bool:
        """Keys typed on the X display, then F3 (no meaning to the kiosk) as an end mark:
        done once the window has seen the mark, so every key before it was handled."""
        import subprocess

        from kivy.core.window import Window

        f3 = 284
        if self._xkeys_sent is None:
            self._xkeys_sent = len(self.keys_seen)
            x, y = Window.left + Window.width // 2, Window.top + Window.height // 2
            typed = subprocess.run(
                ["xdotool", "mousemove", str(x), str(y), "key", "--delay", "40", *keys, "F3"],
                capture_output=True,
                text=True,
                timeout=30,
                env={**os.environ, "DISPLAY": os.environ.get("DISPLAY") or self._display},
            )
            if typed.returncode != 0:
                raise RuntimeError(f"xdotool failed: {typed.stderr.strip()[-300:]}")
        if f3 in self.keys_seen[self._xkeys_sent :]:
            self._xkeys_sent = None
            return True
        if self._timed_out(DEFAULT_WAIT_SECONDS):
            raise TimeoutError(f"the window never got the keys {keys!r}")
        return False

    def _step_signal(self, name: str) -> bool:
        import signal

        os.kill(os.getpid(), getattr(signal, name))
        return True

    def _step_close_request(self) -> bool:
        from kivy.core.window import Window

        Window.dispatch("on_request_close")  # True from a handler: the window stays
        return True

    def _step_hook(self, name: str, *args: Any) -> bool:
        hook = self.hooks.get(name)
        if hook is None:
            raise LookupError(f"no hook {name!r}; hooks are {sorted(self.hooks)}")
        hook(*args)
        return True

    def _step_dump(self, label: str) -> bool:
        self.dumps[label] = {
            name: texts_of(screen) for name, screen in self.app.loaded_screens.items()
        }
        self.dumps[label]["_root"] = texts_of(self.app.root)
        return True

    def _step_flags(self, label: str) -> bool:
        """Keep the current view's on/off flags (assist, longer_times...): never its values."""
        view = getattr(self.current, "view", None) or {}
        self.flags[label] = {k: v for k, v in view.items() if isinstance(v, bool)}
        return True

    def _step_flag(self, name: str, on: bool = True) -> bool:
        """Wait until the current view's on/off flag ``name`` is ``on`` (e.g. the longer
        time limits a headphone plug turns on, read on the app's one-second tick)."""
        view = getattr(self.current, "view", None) or {}
        if view.get(name) is on:
            return True
        if self._timed_out(DEFAULT_WAIT_SECONDS):
            raise TimeoutError(f"{name} never became {on} on {self.app.manager.current!r}")
        return False

    def _step_frames(self, label: str, seconds: float) -> bool:
        """Watch the window keep drawing: a redraw asked every frame for ``seconds``.

        Runs beside the next steps. A UI thread that blocks stops the clock and the
        frames with it; the longest gap between two frames (or from the last one to the
        end of the watch, when the thread blocked through it) is what a person saw frozen.
        """
        from kivy.core.window import Window

        flips = [time.perf_counter()]
        until = flips[0] + seconds

        def on_flip(*_: Any) -> None:
            flips.append(time.perf_counter())

        def tick(_dt: float) -> bool | None:
            now = time.perf_counter()
            if now < until:
                Window.canvas.ask_update()
                return None
            Window.unbind(on_flip=on_flip)
            flips.append(now)
            self.frame_gaps[label] = max(b - a for a, b in zip(flips, flips[1:], strict=False))
            return False

        Window.bind(on_flip=on_flip)
        self._frame_watches[label] = (on_flip, Clock.schedule_interval(tick, 0))
        return True

    def _step_frames_done(self, label: str, seconds: float = DEFAULT_WAIT_SECONDS) -> bool:
        if label in self.frame_gaps:
            return True
        if self._timed_out(seconds):
            raise TimeoutError(f"the frame watch {label!r} never ended")
        return False

    def _step_sleep(self, seconds: float) -> bool:
        return self._timed_out(seconds)

    def _step_expect(self, substring: str) -> bool:
        texts = texts_of(self.current)
        if not any(substring in text for text in texts):
            if self._timed_out(5):
                raise AssertionError(f"{substring!r} not on {self.app.manager.current!r}")
            return False
        return True


def _window_children() -> list[str]:
    """What is on the window: the app's root, and any panel laid over it (Kivy's settings)."""
    from kivy.core.window import Window

    return [type(child).__name__ for child in Window.children]


def overflowing_labels(root: Widget, slack: float = 1.5) -> list[dict[str, Any]]:
    """Visible labels whose texture (the drawn text) is wider or taller than the label.

    A label that wraps (``text_size`` width set) overflows when its lines need more height
    than it has, or a word is wider than it; a label that does not wrap, when its one line
    is wider than it. Labels sized by their texture never overflow.
    """
    from kivy.uix.label import Label

    found = []
    for widget in root.walk(restrict=True):
        if not isinstance(widget, Label) or not widget.text.strip() or not is_visible(widget):
            continue
        tw, th = widget.texture_size
        if tw > widget.width + slack or th > widget.height + slack:
            found.append(
                {
                    "text": widget.text[:80],
                    "texture": [round(tw), round(th)],
                    "size": [round(widget.width), round(widget.height)],
                }
            )
    return found


def save_screenshot(path: Path) -> Path:
    """The window as drawn, as a PNG at ``path``."""
    from kivy.core.window import Window

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    saved = Window.screenshot(name=str(path))
    if saved:
        os.replace(saved, path)
    return path
