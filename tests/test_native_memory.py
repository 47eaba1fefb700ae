"""Freed native memory goes back to the system (glibc's malloc_trim), in a real process."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="malloc_trim is glibc's; elsewhere a no-op"
)

CHILD = textwrap.dedent(
    """
    import ctypes, ctypes.util
    from pathlib import Path
    from voice_sidecar.native_memory import release_free_memory

    def rss_mb():
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024

    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    libc.malloc.restype = ctypes.c_void_p
    libc.free.argtypes = [ctypes.c_void_p]
    # 64 KiB blocks: below the mmap threshold, so they come from the heap as a native
    # library's buffers do; the last one stays, so the heap's top cannot shrink by itself
    blocks = [libc.malloc(65536) for _ in range(3200)]
    for block in blocks:
        ctypes.memset(block, 1, 65536)
    for block in blocks[:-1]:
        libc.free(block)
    before = rss_mb()
    trimmed = release_free_memory()
    print(trimmed, round(before - rss_mb()))
    """
)


def test_freed_heap_pages_are_given_back() -> None:
    # issue 14: the worker's RSS stayed at its high-water mark after every conversation
    done = subprocess.run(
        [sys.executable, "-c", CHILD], capture_output=True, text=True, check=True, timeout=60
    )
    trimmed, released_mb = done.stdout.split()
    assert trimmed == "True"
    assert int(released_mb) >= 150, done.stdout  # of the 200 MB freed
