"""Handing memory that native libraries freed back to the system (glibc's ``malloc_trim``).

Whisper (CTranslate2), Piper and Silero (onnxruntime) and the LiveKit FFI allocate through
malloc on threads of their own; glibc keeps what they free in its per-thread arenas, so a
worker's resident size stays at its high-water mark. ``malloc_trim(0)`` returns the free
pages (about 25 MB after the models' warm-up, measured in docs/benchmarks.md, "Issue 14:
memory"); it takes about a millisecond. Elsewhere (macOS, Windows, musl) it does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
from functools import cache
from typing import Any


@cache
def _malloc_trim() -> Any | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None
    return getattr(libc, "malloc_trim", None)


def release_free_memory() -> bool:
    """Give freed heap pages back to the system; False where the C library cannot."""
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True
