"""Exit when the app is gone: its pid disappears or our stdin reaches end of file.

The desktop app keeps the write end of our stdin open for as long as it lives,
so the end of stdin arrives even when it crashes; ``--parent-pid`` covers
launchers that do not give us a pipe. The supervisor gives every child the
same lifeline (a stdin pipe only it can write), which is how children notice a
dead supervisor where there is no parent-death signal (macOS).

Watch stdin only when it is a pipe (``stdin_is_pipe``): under Docker or systemd
it is often ``/dev/null``, whose end of file would mean nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import stat
import sys
import threading
from typing import BinaryIO, Literal

import psutil

ExitReason = Literal["parent_exit", "stdin_closed", "shutdown_request"]
# A web view can write to our stdin but not close it (Tauri's shell plugin has write and
# kill only), so a line holding this command is a polite stop too.
SHUTDOWN_LINE = b'{"command": "shutdown"}'


def is_shutdown_line(line: bytes) -> bool:
    import json

    try:
        message = json.loads(line)
    except (ValueError, UnicodeDecodeError):
        return False
    return isinstance(message, dict) and message.get("command") == "shutdown"


def stdin_is_pipe(stream: BinaryIO | None = None) -> bool:
    """Whether ``stream`` (default: stdin) is a pipe or socket, as a launching app gives it."""
    if stream is None:
        stream = sys.stdin.buffer if sys.stdin is not None else None
    if stream is None:
        return False
    try:
        mode = os.fstat(stream.fileno()).st_mode
    except (OSError, ValueError):
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)


async def watch_parent(
    parent_pid: int | None = None,
    *,
    watch_stdin: bool = False,
    stdin: BinaryIO | None = None,
    poll_interval_s: float = 0.5,
) -> ExitReason:
    """Resolve when ``parent_pid`` is gone (checked every ``poll_interval_s``) or stdin
    reaches end of file.

    With ``watch_stdin``, ``stdin`` (default: this process's stdin) is read, and its
    data discarded, on a daemon thread: that works for pipes on Windows too and
    never holds up interpreter exit. A parent that is a zombie, or whose pid now
    belongs to a newer process, counts as gone. With nothing to watch this waits
    until cancelled.
    """
    loop = asyncio.get_running_loop()
    waits: list[asyncio.Future[ExitReason]] = []
    if watch_stdin:
        closed: asyncio.Future[ExitReason] = loop.create_future()
        _start_stdin_reader(stdin if stdin is not None else sys.stdin.buffer, loop, closed)
        waits.append(closed)
    if parent_pid is not None:
        waits.append(asyncio.ensure_future(_parent_gone(parent_pid, poll_interval_s)))
    if not waits:
        waits.append(loop.create_future())  # nothing to watch: only cancellation ends this
    try:
        done, _ = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for wait in waits:
            wait.cancel()
    return next(w for w in waits if w in done).result()


async def _parent_gone(pid: int, poll_interval_s: float) -> ExitReason:
    try:
        parent = psutil.Process(pid)
    except psutil.NoSuchProcess:
        return "parent_exit"
    # polling is the portable way to watch a process that is not our child
    while _alive(parent):  # noqa: ASYNC110
        await asyncio.sleep(poll_interval_s)
    return "parent_exit"


def _alive(process: psutil.Process) -> bool:
    try:
        # is_running() also compares the start time, so a reused pid is not our parent
        running: bool = process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True
    return running


def _start_stdin_reader(
    stdin: BinaryIO, loop: asyncio.AbstractEventLoop, closed: asyncio.Future[ExitReason]
) -> None:
    def resolve(reason: ExitReason) -> None:
        if not closed.done():
            closed.set_result(reason)

    def read_until_eof() -> None:
        reason: ExitReason = "stdin_closed"
        pending = b""
        try:
            fd = stdin.fileno()
            while chunk := os.read(fd, 65536):
                *lines, pending = (pending + chunk).split(b"\n")
                if any(is_shutdown_line(line) for line in lines):
                    reason = "shutdown_request"
                    break
                pending = pending[-4096:]  # anything else written here is ignored
        except (OSError, ValueError):
            pass  # a broken or closed stdin is as gone as an ended one
        with contextlib.suppress(RuntimeError):  # a closed loop: nobody is waiting any more
            loop.call_soon_threadsafe(resolve, reason)

    threading.Thread(target=read_until_eof, name="stdin watch", daemon=True).start()
