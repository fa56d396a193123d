"""No way out of the kiosk from a keyboard (issue 15), on the real window on Xvfb.

The keys are typed on the X display with xdotool (XTEST), so they reach the kiosk the
way a USB keyboard's do: through X, SDL and Kivy's window, not dispatched from inside.
Every combination that quits or leaves a Kivy app (Alt+F4, Ctrl+C, Ctrl+Q, Ctrl+W, F1 for
Kivy's settings panel, Ctrl+Alt+F2 for another terminal, Ctrl+Alt+Delete), then the
window's close request (a window manager's close button, SDL's quit event) and SIGINT
to the process (Ctrl+C in a terminal): the person's session is still on screen after
all of them, with no panel over it. The console side (VTs, gettys, SysRq) is the
image's: tests/test_appliance_layout.py.
"""

from __future__ import annotations

import shutil

import pytest

pytest_plugins = ["tests.fixtures.card", "tests.fixtures.screen"]

pytestmark = [
    pytest.mark.slow,  # a whole kiosk on Xvfb
    pytest.mark.skipif(shutil.which("xdotool") is None, reason="xdotool is not installed"),
]

WAYS_OUT = ["alt+F4", "ctrl+c", "ctrl+q", "ctrl+w", "F1", "ctrl+alt+F2", "ctrl+alt+Delete"]


def test_no_key_close_request_or_sigint_leaves_the_persons_session(run_kiosk_ui) -> None:
    script = [
        ["wait", "welcome"],
        ["tap", "start_apply"],
        ["wait", "notes"],
        ["xkeys", *WAYS_OUT],
        ["close_request"],
        ["signal", "SIGINT"],
        ["signal", "SIGQUIT"],
        ["xkeys", "F1"],  # after the signals: the process still reads its keys
        ["wait", "notes"],
        ["shot", "notes_after_every_way_out"],
        # Escape is the keypad's Cancel: it ends the procedure, as the Cancel button does,
        # and never the kiosk
        ["xkeys", "Escape"],
        ["wait", "welcome"],
        ["xkeys", "Escape"],
        ["wait", "welcome"],
    ]
    report = run_kiosk_ui(script)
    assert report["error"] is None
    assert report["steps_done"] == len(script)
    assert report["screens_seen"] == ["notes", "welcome"]  # the welcome before: not seen
    assert report["window_children"] == ["KioskRoot"]  # no settings panel over the kiosk
    f1, f3 = 282, 284
    assert report["keys_seen"].count(f3) == 4 and f1 in report["keys_seen"]
