"""The kiosk's touch UI (Kivy). ``mynapoint-kiosk`` runs :func:`main`."""

from __future__ import annotations

import os
import tempfile


def main(argv: list[str] | None = None) -> int:
    """``mynapoint-kiosk [CONFIG]``: :func:`screens.app.main`, with a Kivy home it can use.

    Kivy makes its home directory when it is first imported and stops the process if it
    cannot. On the appliance that home is on the data partition: with the partition
    missing its mount point is a directory of the read-only root, and the kiosk would
    die before it could show its maintenance screen, again every two seconds. So the
    home is checked before Kivy is imported, and a scratch one (the unit's private /tmp)
    is used when it is not writable.
    """
    home = os.environ.get("KIVY_HOME")
    if home and not _writable_dir(home):
        os.environ["KIVY_HOME"] = tempfile.mkdtemp(prefix="kivy-home-")
    from screens.app import main as run_kiosk

    return run_kiosk(argv)


def _writable_dir(path: str) -> bool:
    try:
        os.makedirs(path, exist_ok=True)
    except OSError:
        return False
    return os.access(path, os.W_OK)
