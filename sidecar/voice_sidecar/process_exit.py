"""Ending the process without a crash once LiveKit's native runtime has run.

LiveKit's Rust library calls into Python from its own threads (``ffi_event_callback``). When
such a call still waits for the interpreter while Python finalizes, CPython 3.11 ends that
thread with ``pthread_exit``; glibc unwinds the thread's stack, the unwind reaches a Rust
frame that must not unwind, and Rust aborts the whole process ("panic in a function that
cannot unwind", exit status -6) after the command already did its work. Seen in CI on
``converse``; ``tests/test_process_exit.py`` reproduces it on demand.

So once that runtime was started the process does every part of a normal exit that matters
here (wait for foreground threads, run the ``atexit`` handlers, which also dispose the
runtime and flush the logs, flush the standard streams) and then leaves with ``os._exit``,
skipping only the finalization in which the crash happens.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import sys
import threading
from typing import NoReturn

_FFI_MODULE = "livekit.rtc._ffi_client"


def native_runtime_started() -> bool:
    """Whether this process started LiveKit's Rust runtime (imports alone do not)."""
    module = sys.modules.get(_FFI_MODULE)
    return module is not None and getattr(module.FfiClient, "_instance", None) is not None


def end_process(code: int) -> NoReturn:
    """Exit with ``code``; with LiveKit's runtime started, without interpreter finalization.

    Called on the main thread (``cli.run``), as the interpreter's own exit is."""
    if not native_runtime_started():
        sys.exit(code)
    # what a normal exit does first: threading's exit hooks (they let idle concurrent.futures
    # workers end; a join without them would wait forever), then a join of every non-daemon
    # thread
    threading._shutdown()  # type: ignore[attr-defined]
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        _flush(stream)
    os._exit(code)


def _flush(stream: object) -> None:
    flush = getattr(stream, "flush", None)
    if flush is None:
        return
    # a closed pipe or stream: nothing more can reach the reader
    with contextlib.suppress(OSError, ValueError):
        flush()
