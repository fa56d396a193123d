"""What the kiosk writes to the journal: its own INFO lines, no library's DEBUG lines.

The kiosk's unit sends Kivy's console log (stderr) to the journal. The test runs the
kiosk's own set-up (``screens.app.configure_kivy``) in a fresh process with Kivy's real
console handler on, then logs as the sync worker's urllib3 and the kiosk do.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = """
import logging
from screens import app
app.configure_kivy(app.UiSettings())
logging.getLogger("urllib3.connectionpool").debug("GET /v1/heartbeat HTTP/1.1 200 (debug)")
logging.getLogger("kiosk.health").info("heartbeat sent (info)")
logging.getLogger("urllib3.connectionpool").warning("Retrying after connection broken (warning)")
"""


def test_library_debug_lines_stay_out_of_the_journal(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "KIVY_HOME": str(tmp_path / "kivy"),
        "KIVY_NO_ARGS": "1",
        "KIVY_NO_FILELOG": "1",  # as mynapoint-kiosk.service: the console log only
    }
    env.pop("KIVY_NO_CONSOLELOG", None)
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    journal = done.stderr
    assert "heartbeat sent (info)" in journal
    assert "Retrying after connection broken (warning)" in journal
    assert "(debug)" not in journal
