"""One way to wait for something another process or thread does: :func:`eventually`.

Tests, benchmarks and the simulators wait on real parts (pcscd noticing a card, a
sync worker delivering, a server answering). Where the part gives no event to wait
on, poll its state with a deadline here, never with a bare ``sleep``:

    >>> eventually(lambda: 42, what="the answer")
    42
    >>> eventually(lambda: None, timeout=0.05, what="a reply that never comes")
    Traceback (most recent call last):
    ...
    TimeoutError: no a reply that never comes within 0.05 s
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def eventually(
    condition: Callable[[], T],
    timeout: float = 10.0,
    what: str = "condition",
    interval: float = 0.05,
    clock: Callable[[], float] = time.monotonic,
) -> T:
    """``condition()``'s first truthy value, asked every ``interval`` s until ``timeout``.

    An exception from ``condition`` goes straight to the caller (a dead process is an
    error, not a reason to wait longer). On timeout, :class:`TimeoutError` names
    ``what`` and the last value seen.
    """
    deadline = clock() + timeout
    while True:
        value = condition()
        if value:
            return value
        left = deadline - clock()
        if left <= 0:
            seen = "" if value is None or value is False else f" (last: {value!r})"
            raise TimeoutError(f"no {what} within {timeout:g} s{seen}")
        time.sleep(min(interval, left))
