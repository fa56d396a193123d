"""Is the queue's storage there and sound, before the kiosk opens (or makes) the queue?

On the appliance the queue lives on the data partition, bound to
``/var/lib/mynapoint-kiosk``; when that partition is missing or could not be checked at
boot, the directory is the read-only root's empty mount point. The kiosk must then not
open a queue at all: not make a fresh one (on a root that is writable by mistake it
would take enrollments that vanish with the next image) and never write over a
damaged one. :func:`data_problem` says what is wrong, as a plain code
(``data_missing``, ``data_read_only``, ``data_corrupt``) for the journal, the staff
screen and the heartbeat; the controller then shows the maintenance screen.

    >>> import tempfile, pathlib
    >>> data_problem(pathlib.Path(tempfile.mkdtemp()) / "queue.sqlite3") is None
    True
    >>> data_problem(pathlib.Path("/nonexistent/queue.sqlite3"))
    'data_missing'
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from offline_queue.errors import QueueUnavailable

DATA_MISSING = "data_missing"
DATA_READ_ONLY = "data_read_only"
DATA_CORRUPT = "data_corrupt"
#: The first 16 bytes of every SQLite database file.
SQLITE_HEADER = b"SQLite format 3\x00"


class DataPartitionProblem(QueueUnavailable):
    """The queue's storage is missing, read-only or damaged: no queue is opened."""

    def __init__(self, problem: str) -> None:
        super().__init__(f"the queue's storage is not usable: {problem}")
        self.problem = problem


def data_problem(db_path: Path) -> str | None:
    """What keeps the queue at ``db_path`` from being opened safely, or None."""
    directory = db_path.parent
    if not directory.is_dir():
        return DATA_MISSING
    if os.statvfs(directory).f_flag & os.ST_RDONLY or not os.access(directory, os.W_OK):
        return DATA_READ_ONLY
    if db_path.exists() and db_path.stat().st_size > 0:
        try:
            with db_path.open("rb") as db:
                header = db.read(len(SQLITE_HEADER))
        except OSError:
            return DATA_CORRUPT
        if header != SQLITE_HEADER:
            return DATA_CORRUPT
    return None


def check_data(db_path: Path) -> None:
    """Raise :class:`DataPartitionProblem` unless the queue's storage is sound."""
    problem = data_problem(db_path)
    if problem is not None:
        raise DataPartitionProblem(problem)


#: Where the queue lives on the appliance (kiosk/data/kiosk.example.toml's queue.db_path).
APPLIANCE_QUEUE = Path("/var/lib/mynapoint-kiosk/queue.sqlite3")


def maintenance_config(
    path: str | None = None, *, root: Path = Path("/"), queue: Path = APPLIANCE_QUEUE
) -> Any:
    """The configuration to show the maintenance screen with, and the storage problem,
    when the kiosk's configuration did not load because the data partition is not there
    (its keys live on it); None when the configuration itself is wrong.

    Two cases: the file parses but files it names are missing, and its queue's storage
    has a problem; or the file itself is missing, on a read-only ``root`` (an appliance:
    the configuration can be on the data partition) whose appliance ``queue`` directory
    has a problem. Anything else stays a configuration error, refused (exit 78).
    """
    from kiosk.config import EXAMPLE_PATH, ConfigInvalid, config_path, load_config

    try:
        config = load_config(path, check_files=False)
    except ConfigInvalid:
        if config_path(path).exists() or not os.statvfs(root).f_flag & os.ST_RDONLY:
            return None
        problem = data_problem(queue)
        return None if problem is None else (load_config(EXAMPLE_PATH, check_files=False), problem)
    problem = data_problem(config.queue.db_path)
    return None if problem is None else (config, problem)
