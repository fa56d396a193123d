"""Keep the kiosk's C heap from holding freed memory (glibc malloc; issue 15's RSS goal).

Label textures (llvmpipe keeps them in process memory), SDL2_ttf surfaces and glyph
bitmaps are large buffers that live for one screen or one language. glibc raises its
mmap threshold each time such a buffer is freed, after which buffers of that size come
from the main heap, and a heap only shrinks from its top: over sessions that switch
languages the heap grew to hundreds of MiB of mostly free pages (docs/benchmarks.md).

* :func:`bound_heap` (before the window opens) fixes the threshold at 128 KiB, so every
  large buffer is its own mapping, given back when freed, and caps the malloc arenas.
* :func:`release_free_memory` (at the end of every session) gives the free pages inside
  the heap back to the system (``malloc_trim``).

Elsewhere than glibc both do nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
from typing import Any

log = logging.getLogger("screens.memory")

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8
MMAP_THRESHOLD = 128 * 1024
TRIM_THRESHOLD = 1024 * 1024
ARENA_MAX = 2

_libc: Any = None


def _glibc() -> Any:
    global _libc
    if _libc is None:
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
            libc.mallopt  # noqa: B018  (glibc has both; musl has neither)
            libc.malloc_trim  # noqa: B018
            _libc = libc
        except (OSError, AttributeError):
            _libc = False
    return _libc


def bound_heap() -> bool:
    """Fixed mmap and trim thresholds and two arenas; False where malloc is not glibc's."""
    libc = _glibc()
    if not libc:
        return False
    return all(
        libc.mallopt(option, value) == 1
        for option, value in (
            (M_MMAP_THRESHOLD, MMAP_THRESHOLD),
            (M_TRIM_THRESHOLD, TRIM_THRESHOLD),
            (M_ARENA_MAX, ARENA_MAX),
        )
    )


def release_free_memory() -> bool:
    """Give free heap pages back to the system; True when some were."""
    libc = _glibc()
    return bool(libc and libc.malloc_trim(0))
