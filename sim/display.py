"""A virtual X display (Xvfb) for the kiosk where there is no screen: the demo and the tests.

Xvfb picks a free display number itself (``-displayfd``), so parallel runs never
collide; :meth:`VirtualDisplay.stop` ends it, and the context manager always does.

    >>> with VirtualDisplay(1920, 1080) as display:   # doctest: +SKIP
    ...     subprocess.run(cmd, env=display.env())
"""

from __future__ import annotations

import os
import select
import shutil
import subprocess
import tempfile
from pathlib import Path

START_TIMEOUT = 15.0


class VirtualDisplay:
    """One Xvfb server with one screen of ``width`` x ``height`` (24-bit colour)."""

    def __init__(self, width: int = 1920, height: int = 1080) -> None:
        self.width, self.height = width, height
        self.display: str | None = None
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> VirtualDisplay:
        if shutil.which("Xvfb") is None:
            raise FileNotFoundError(
                "Xvfb missing: install the Debian package xvfb (scripts/setup.sh)"
            )
        read_fd, write_fd = os.pipe()
        self._proc = subprocess.Popen(
            [
                "Xvfb",
                "-displayfd",
                str(write_fd),
                "-screen",
                "0",
                f"{self.width}x{self.height}x24",
                "-nolisten",
                "tcp",
                "-noreset",
            ],
            pass_fds=(write_fd,),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        os.close(write_fd)
        try:
            ready, _, _ = select.select([read_fd], [], [], START_TIMEOUT)
            number = os.read(read_fd, 16).decode().strip() if ready else ""
        finally:
            os.close(read_fd)
        if not number:
            self.stop()
            raise TimeoutError(f"Xvfb gave no display number within {START_TIMEOUT} s")
        self.display = f":{number}"
        return self

    def env(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """Environment for a Kivy process on this display (quiet, its own KIVY_HOME)."""
        env = dict(os.environ if base is None else base)
        env.update(kivy_environment())
        env["DISPLAY"] = self.display or ""
        return env

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(5)
        self._proc = None

    def __enter__(self) -> VirtualDisplay:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def kivy_environment(kivy_home: Path | None = None) -> dict[str, str]:
    """Kivy without a console log, command-line parsing or ~/.kivy; software GL; no audio."""
    home = kivy_home or Path(tempfile.gettempdir()) / f"mynapoint-kivy-{os.getuid()}"
    home.mkdir(parents=True, exist_ok=True)
    return {
        "KIVY_NO_ARGS": "1",
        "KIVY_NO_CONSOLELOG": "1",
        "KIVY_NO_FILELOG": "1",
        "KIVY_HOME": str(home),
        "LIBGL_ALWAYS_SOFTWARE": "1",
        "SDL_AUDIODRIVER": os.environ.get("SDL_AUDIODRIVER", "dummy"),
    }
