"""Is the kiosk's clock one it knows is wrong? Then it takes no enrollment (issue 15).

A Raspberry Pi has no battery clock: until NTP answers, systemd starts it at the image's
build time (``/usr/lib/clock-epoch``) or at the last time timesyncd saved. An enrollment
is stamped with the kiosk's time and judged against campaign dates, so a clock that is
known to be wrong must stop enrollments, not stamp them: before the build of the
installed code, before the kiosk's own certificate or its CA became valid, or (when the
configuration asks for it) not synchronised by timesyncd yet.

    >>> import datetime as dt
    >>> built = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    >>> clock_problem(dt.datetime(2026, 12, 2, tzinfo=dt.UTC), not_before=[built])
    >>> clock_problem(dt.datetime(2000, 1, 1, tzinfo=dt.UTC), not_before=[built])
    'clock_before_valid_date'
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from pathlib import Path

from contract.errors import KioskError

CLOCK_BEFORE_VALID_DATE = "clock_before_valid_date"
CLOCK_NOT_SYNCHRONISED = "clock_not_synchronised"
#: timesyncd touches this file once it has set the clock from NTP (systemd 249+).
TIMESYNC_FLAG = Path("/run/systemd/timesync/synchronized")
#: install.sh --appliance touches this when it installs new code (systemd's clock floor).
CLOCK_EPOCH = Path("/usr/lib/clock-epoch")


class ClockWrong(KioskError):
    """The kiosk's clock is known to be wrong: no enrollment now (staff set the time)."""

    kind = "clock_wrong"

    def __init__(self, problem: str) -> None:
        super().__init__(f"the kiosk's clock is known to be wrong: {problem}")
        self.problem = problem


def clock_problem(
    now: dt.datetime,
    *,
    not_before: Iterable[dt.datetime] = (),
    synchronised: bool | None = None,
    require_sync: bool = False,
) -> str | None:
    """Why ``now`` cannot be right, or None: each of ``not_before`` must have passed."""
    if any(now < moment for moment in not_before):
        return CLOCK_BEFORE_VALID_DATE
    if require_sync and not synchronised:
        return CLOCK_NOT_SYNCHRONISED
    return None


def file_time(path: Path) -> dt.datetime | None:
    """A file's modification time (the clock epoch), or None when it is not there."""
    try:
        return dt.datetime.fromtimestamp(path.stat().st_mtime, dt.UTC)
    except OSError:
        return None
