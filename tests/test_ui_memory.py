"""The kiosk's C heap gives freed buffers back (screens/memory.py; issue 15's RSS goal).

Runs a fresh Python process (glibc malloc, no window) that frees buffers the way label
textures and glyph surfaces are freed, with one buffer kept at the heap's top so glibc
cannot shrink the heap on its own, and reads its own VmRSS.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

SCRIPT = """
import ctypes, sys
from screens import memory
def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) // 1024
libc = ctypes.CDLL("libc.so.6")
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
if sys.argv[1] == "bounded":
    memory.bound_heap()
libc.free(libc.malloc(1 << 20))  # a freed large buffer: glibc raises its mmap threshold
size = 400 * 1024
blocks = [libc.malloc(size) for _ in range(200)]  # ~80 MiB of texture-sized buffers
for block in blocks:
    ctypes.memset(block, 1, size)
keep = libc.malloc(64 * 1024)  # something still in use above them
before = rss()
for block in blocks:
    libc.free(block)
print(before - rss())
"""


def freed_mib(mode: str) -> int:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, mode], capture_output=True, text=True, check=True, timeout=60
    )
    return int(done.stdout.strip())


@pytest.mark.slow  # two fresh interpreters, ~0.6 s
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc malloc")
def test_freed_texture_sized_buffers_go_back_to_the_system() -> None:
    assert freed_mib("bounded") >= 70  # of ~80 MiB
    assert freed_mib("default") < 10  # what glibc did by itself: the heap kept them
