"""[display] trailing_frame: one more frame once drawing stops, and only one.

Under qemu's virtio-gpu (SDL kmsdrm, Mesa llvmpipe) the screen showed each frame only
once the next was drawn, so the last frame of every change stayed off the display
(docs/appliance.md). The loop runs on Kivy's clock; here an injected clock and a window
that records what was asked of it stand in for both, so the frames are counted exactly.
"""

from __future__ import annotations

from typing import Any

from kiosk import config as kiosk_config
from screens import clock


class Trigger:
    def __init__(self, callback: Any) -> None:
        self.callback, self.pending = callback, False

    def __call__(self) -> None:
        self.pending = True  # as Kivy's: calling it again while pending changes nothing

    def fire(self) -> None:
        self.pending = False
        self.callback(0.05)


class Clock:
    def __init__(self) -> None:
        self.triggers: list[Trigger] = []

    def create_trigger(self, callback: Any, _timeout: float) -> Trigger:
        self.triggers.append(Trigger(callback))
        return self.triggers[-1]


class Window:
    """Kivy's window as far as the loop sees it: on_flip handlers and a canvas."""

    def __init__(self) -> None:
        self.handlers: list[Any] = []
        self.asked = 0
        self.canvas = self

    def bind(self, on_flip: Any) -> None:
        self.handlers.append(on_flip)

    def ask_update(self) -> None:
        self.asked += 1

    def flip(self) -> None:
        for handler in self.handlers:
            handler(self)


def test_a_run_of_frames_is_followed_by_one_more_and_then_nothing() -> None:
    window, ticks = Window(), Clock()
    trigger = clock.redraw_after_changes(window, clock=ticks)
    for _ in range(3):  # a screen change: three frames in a row
        window.flip()
    assert trigger.pending and window.asked == 0
    trigger.fire()
    assert window.asked == 1  # the extra frame, asked for once
    window.flip()  # ... drawn: it asks for none, so a screen at rest stays at rest
    assert not trigger.pending
    window.flip()  # the next change starts it again
    assert trigger.pending


def test_off_unless_the_configuration_turns_it_on(tmp_path: Any) -> None:
    example = kiosk_config.EXAMPLE_PATH.read_text(encoding="utf-8")
    assert "trailing_frame = false" in example
    example_config = kiosk_config.load_config(kiosk_config.EXAMPLE_PATH, check_files=False)
    assert not example_config.display.trailing_frame
    on = tmp_path / "kiosk.toml"
    on.write_text(example.replace("trailing_frame = false", "trailing_frame = true"))
    assert kiosk_config.load_config(on, check_files=False).display.trailing_frame
    wrong = tmp_path / "wrong.toml"
    wrong.write_text(example.replace("trailing_frame = false", 'trailing_frame = "yes"'))
    try:
        kiosk_config.load_config(wrong, check_files=False)
    except kiosk_config.ConfigInvalid as error:
        assert "display.trailing_frame" in str(error) and "true or false" in str(error)
    else:
        raise AssertionError("a string for trailing_frame was taken")
