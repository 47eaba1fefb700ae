"""The keeper (Linux): one small process between the supervisor and each service, so that the
service's whole tree goes when the supervisor dies, however it dies.

The kernel's parent-death signal reaches only a direct child: a service's own children, in
another process group or session, or double-forked, outlived a ``kill -9`` of ``up``. The
keeper is a child subreaper (``PR_SET_CHILD_SUBREAPER``), so every descendant of the service
stays its descendant, even an orphan; its own parent-death signal is SIGHUP, which it
catches to SIGKILL that whole tree before it exits. It runs the service with the same
stdin, stdout, stderr and environment, passes SIGTERM on by being in the same process group
(the supervisor signals the group), reaps every orphan, and ends with the service's own
exit code or signal once the service and everything it left behind are gone.

``python -I .../supervisor/keeper.py --parent PID -- ARGV...`` (the frozen
executable: ``voice-sidecar _keeper --parent PID -- ARGV...``; ``spawner.keeper_command``).
Nothing in the package imports this module: it only ever runs as a program.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from types import FrameType

# imported before any signal handler is armed: a handler that imported it could be entered
# again while that import runs and find a half-made module (a kill -9 of the supervisor
# then left the tree alive)
import psutil

_PR_SET_PDEATHSIG = 1
_PR_SET_CHILD_SUBREAPER = 36
_LEFTOVER_GRACE_S = 2.0
"""After a polite stop, how long the service's leftovers get between SIGTERM and SIGKILL."""


def _prctl(option: int, value: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(option, ctypes.c_ulong(value), 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), f"prctl({option}) failed")


def _descendants() -> list[int]:
    """Every process below us (a subreaper: orphans of our tree are our children)."""
    try:
        return [p.pid for p in psutil.Process().children(recursive=True)]
    except psutil.Error:
        return []


def _signal_all(pids: Sequence[int], signum: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signum)


def _reap() -> list[tuple[int, int]]:
    """Reap every child that has exited, without waiting."""
    reaped: list[tuple[int, int]] = []
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return reaped
        if pid == 0:
            return reaped
        reaped.append((pid, status))


def _kill_tree() -> None:
    """SIGKILL every descendant until none is left (a fork may race the first pass)."""
    for _ in range(50):
        pids = _descendants()
        if not pids:
            break
        _signal_all(pids, signal.SIGKILL)
        time.sleep(0.02)
        _reap()
    _reap()


def _end_leftovers(grace_s: float) -> None:
    """What the service left behind: SIGTERM, ``grace_s`` to go, then SIGKILL."""
    pids = _descendants()
    if pids and grace_s > 0:
        _signal_all(pids, signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline and _descendants():
            _reap()
            time.sleep(0.02)
    _kill_tree()


def _exit_like(status: int) -> None:
    """End this process the way the service ended."""
    if os.WIFSIGNALED(status):
        signum = os.WTERMSIG(status)
        if signum not in (signal.SIGKILL, signal.SIGSTOP):
            signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
        time.sleep(1)  # a signal that does not end a process by default
        os._exit(128 + signum)
    os._exit(os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 1)


def main(args: Sequence[str]) -> None:
    """``--parent PID [--report-fd FD] -- ARGV...``; never returns. The service's pid is
    written to FD (then closed), so that the supervisor reports the service, not us."""
    options = list(args[: args.index("--")]) if "--" in args else []
    argv = list(args[args.index("--") + 1 :]) if "--" in args else []
    named = dict(zip(options[::2], options[1::2], strict=False))
    parent = int(named["--parent"]) if "--parent" in named else None
    report_fd = int(named["--report-fd"]) if "--report-fd" in named else None
    if not argv:
        print("voice-sidecar: error: the keeper needs -- and a command", file=sys.stderr)
        os._exit(2)

    dying = False

    def supervisor_died(signum: int, frame: FrameType | None) -> None:
        nonlocal dying
        if dying:  # a second signal during the first one's work
            return
        dying = True
        _kill_tree()
        os._exit(128 + signal.SIGHUP)

    stopping = False

    def stop_requested(signum: int, frame: FrameType | None) -> None:
        # the supervisor signalled our process group: the service got the same signal
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGHUP, supervisor_died)
    signal.signal(signal.SIGTERM, stop_requested)
    signal.signal(signal.SIGINT, stop_requested)
    _prctl(_PR_SET_CHILD_SUBREAPER, 1)
    _prctl(_PR_SET_PDEATHSIG, signal.SIGHUP)
    if parent is not None and os.getppid() != parent:  # it died before the signal was armed
        os._exit(128 + signal.SIGHUP)
    try:
        # the service gets the default dispositions back, and dies with us if we are killed
        service = subprocess.Popen(
            argv,
            restore_signals=True,
            preexec_fn=_service_hook(),
        )  # close_fds: the report pipe stays ours
    except OSError as error:
        print(f"voice-sidecar: error: cannot start {argv[0]}: {error.strerror}", file=sys.stderr)
        os._exit(127)
    if report_fd is not None:
        with contextlib.suppress(OSError):
            os.write(report_fd, f"{service.pid}\n".encode())
            os.close(report_fd)
    status: int | None = None
    while status is None:
        try:
            pid, child_status = os.waitpid(-1, 0)
        except ChildProcessError:  # pragma: no cover - the service is our child
            break
        except InterruptedError:  # pragma: no cover - PEP 475 retries
            continue
        if pid == service.pid:
            status = child_status
    _end_leftovers(_LEFTOVER_GRACE_S if stopping else 0.0)
    _exit_like(status if status is not None else 1 << 8)


def _service_hook() -> Callable[[], None]:
    """The service dies with the keeper too (SIGKILL), for a keeper killed outright."""
    libc = ctypes.CDLL(None, use_errno=True)
    prctl = libc.prctl
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    keeper = os.getpid()

    def hook() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != keeper:
            os.kill(os.getpid(), signal.SIGKILL)

    return hook


if __name__ == "__main__":
    main(sys.argv[1:])
