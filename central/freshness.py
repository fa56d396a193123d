"""Watched files are looked at once per batch, not once per item.

The CRL directory, the catalog and the reference adapters' files are re-read when they
change (an operator edits them while the service runs). Looking costs a ``stat`` or a
directory scan; per item that was a tenth of a batch's CPU (issue 13). Inside
:func:`one_look` each watcher looks at its file at most once and then answers from what
it saw, so one batch is judged against one version of each file, and the next batch
sees any change. Outside it (the status query, tests) every call looks, as before.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar

_LOOKED: ContextVar[set[int] | None] = ContextVar("central_files_looked", default=None)


@contextlib.contextmanager
def one_look() -> Iterator[None]:
    """Each watcher looks at its file at most once within (per thread and context)."""
    token = _LOOKED.set(set())
    try:
        yield
    finally:
        _LOOKED.reset(token)


def must_look(watcher: object) -> bool:
    """True when ``watcher`` must look at its file now; False when it already did in
    this :func:`one_look` and must answer as it did then."""
    looked = _LOOKED.get()
    if looked is None:
        return True
    if id(watcher) in looked:
        return False
    looked.add(id(watcher))
    return True
