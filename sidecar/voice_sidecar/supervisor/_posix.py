"""POSIX specifics: a session (and process group) per child, and on Linux a parent-death signal.

macOS and the BSDs have no parent-death signal: there a child learns that the
supervisor died from the end of its stdin (the supervisor holds the only write
end of that pipe), which ``parent_watch.watch_parent`` turns into a clean exit.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
from collections.abc import Callable

# POSIX only; this assert also tells mypy not to check the rest for win32
assert sys.platform != "win32"

_PR_SET_PDEATHSIG = 1


def parent_death_hook() -> Callable[[], None] | None:
    """A ``preexec_fn`` that makes the kernel SIGKILL the child when its parent dies.

    Linux only (``None`` elsewhere). The signal fires when the *thread* that forked
    the child exits, so spawn from the event loop's thread, which lives as long as
    the supervisor does. Between fork and exec the hook only makes three system
    calls through a function resolved beforehand (no imports, no locks), which is
    what keeps ``preexec_fn`` safe in a process with threads.
    """
    if sys.platform != "linux":
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    prctl.restype = ctypes.c_int
    parent = os.getpid()

    def hook() -> None:  # runs in the child between fork and exec
        prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before the signal was armed
            os.kill(os.getpid(), signal.SIGKILL)

    return hook


def request_stop(pid: int) -> None:
    """SIGTERM to the child's process group (its pid: the child leads a new session)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGTERM)
