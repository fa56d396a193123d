"""Starting the kiosk app: a bad configuration is refused before any window opens."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

EX_CONFIG = 78


def test_bad_configuration_is_refused_naming_every_bad_key(tmp_path: Path) -> None:
    config = tmp_path / "kiosk.toml"
    config.write_text('kiosk_id = "K-1"\nidle_timout_seconds = 5\n', encoding="utf-8")
    env = {**os.environ, "KIVY_NO_CONSOLELOG": "1", "KIVY_NO_ARGS": "1", "DISPLAY": ""}
    env["KIVY_HOME"] = str(tmp_path / "kivy")
    done = subprocess.run(
        [sys.executable, "-m", "screens", str(config)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == EX_CONFIG
    assert "idle_timout_seconds" in done.stderr and "idle_timeout_seconds" in done.stderr
