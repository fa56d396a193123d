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
import time
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
            number = _read_display_number(read_fd)
        finally:
            os.close(read_fd)
        if not number or self._proc.poll() is not None:
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


def _read_display_number(read_fd: int) -> str:
    """The number Xvfb writes on ``-displayfd``, read up to its newline.

    Xvfb writes the number and the newline in two writes and dies ("Cannot write display
    number to fd") if the pipe's reader has gone between them: closing after the first
    read killed one server in three here, and every window then opened on SDL's fallback."""
    data = b""
    deadline = time.monotonic() + START_TIMEOUT
    while not data.endswith(b"\n"):
        left = deadline - time.monotonic()
        ready, _, _ = select.select([read_fd], [], [], max(left, 0))
        chunk = os.read(read_fd, 16) if ready else b""
        if not chunk:
            break  # timed out, or Xvfb exited
        data += chunk
    return data.decode().strip() if data.endswith(b"\n") else ""


def kivy_environment(kivy_home: Path | None = None) -> dict[str, str]:
    """Kivy on X without a console log, command-line parsing or ~/.kivy; software GL; no audio."""
    home = kivy_home or Path(tempfile.gettempdir()) / f"mynapoint-kivy-{os.getuid()}"
    home.mkdir(parents=True, exist_ok=True)
    return {
        "KIVY_NO_ARGS": "1",
        "KIVY_NO_CONSOLELOG": "1",
        "KIVY_NO_FILELOG": "1",
        "KIVY_HOME": str(home),
        "LIBGL_ALWAYS_SOFTWARE": "1",
        "SDL_AUDIODRIVER": os.environ.get("SDL_AUDIODRIVER", "dummy"),
        # on X or not at all: with the display gone SDL would open the window on another
        # driver (offscreen) and a test would pass without any X server
        "SDL_VIDEODRIVER": "x11",
    }
