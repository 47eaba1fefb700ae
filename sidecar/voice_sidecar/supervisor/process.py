"""The real spawner: OS processes with their output logged, stopped and killed as trees."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import errno
import logging
import os
import secrets
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Protocol

import psutil

from voice_sidecar.log import logger
from voice_sidecar.supervisor import tree
from voice_sidecar.supervisor.spawner import OUTPUT_TAIL_LINES, ChildProcess, keeper_command
from voice_sidecar.supervisor.spec import ServiceSpec

log = logger.getChild("supervisor")

_MAX_LINE = 8192
_TAIL_LINE_CHARS = 500
_OUTPUT_DRAIN_S = 1.0


class ProcessSpawner:
    """Starts each service as an OS process.

    - stdin is a pipe whose only write end the supervisor holds: closing it asks
      the child to stop, and it closes by itself when the supervisor dies.
    - stdout and stderr are merged and logged line by line on
      ``voice_sidecar.service.<name>`` (never on our stdout, which carries events).
    - POSIX: a new session per child (own process group), and on Linux a
      parent-death SIGKILL unless ``parent_death_signal=False``; there the child is a
      keeper (``keeper.py``, a subreaper) that runs the service, so that the service's
      own descendants die with the supervisor too.
    - Windows: CREATE_NO_WINDOW | CREATE_NEW_PROCESS_GROUP and a kill-on-close Job
      Object.
    """

    def __init__(self, *, parent_death_signal: bool = True, keeper: bool = True) -> None:
        self._parent_death_signal = parent_death_signal
        self._keeper = keeper_command() if keeper and parent_death_signal else None

    async def spawn(self, spec: ServiceSpec) -> ChildProcess:
        loop = asyncio.get_running_loop()
        marker = secrets.token_hex(8)
        env = {**spec.env, tree.MARKER_VARIABLE: marker}
        started = time.time()

        async def start(
            argv: list[str], **platform: Any
        ) -> tuple[asyncio.SubprocessTransport, _ChildProtocol]:
            pipe = asyncio.subprocess.PIPE
            return await loop.subprocess_exec(
                lambda: _ChildProtocol(loop),
                *argv,
                env=env,
                cwd=spec.cwd,
                stdin=pipe,
                stdout=pipe,
                stderr=asyncio.subprocess.STDOUT,
                **platform,
            )

        if sys.platform == "win32":
            from voice_sidecar.supervisor import _windows

            transport, protocol = await start(
                list(spec.argv), creationflags=_windows.CREATION_FLAGS
            )
            job = _job_for(spec.name, transport.get_pid())
            return _RealChild(spec.name, transport, protocol, marker, started, job)
        from voice_sidecar.supervisor import _posix

        hook = _posix.parent_death_hook() if self._parent_death_signal else None
        if self._keeper is None:
            transport, protocol = await start(
                list(spec.argv), start_new_session=True, preexec_fn=hook
            )
            return _RealChild(spec.name, transport, protocol, marker, started, None)
        if not _executable(spec.argv[0]):  # as without a keeper: "cannot be started"
            raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), spec.argv[0])
        report_read, report_write = os.pipe()
        try:
            keeper_args = ["--parent", str(os.getpid()), "--report-fd", str(report_write)]
            transport, protocol = await start(
                [*self._keeper, *keeper_args, "--", *spec.argv],
                start_new_session=True,
                preexec_fn=hook,
                pass_fds=(report_write,),
            )
        finally:
            os.close(report_write)
        service_pid = await _read_reported_pid(report_read)
        child = _RealChild(spec.name, transport, protocol, marker, started, None)
        child.report_service(service_pid)
        return child


_REPORT_TIMEOUT_S = 10.0


async def _read_reported_pid(fd: int) -> int | None:
    """The service's pid as its keeper reports it (None if the keeper died first)."""

    def read() -> bytes:
        try:
            return os.read(fd, 64)
        finally:
            os.close(fd)

    try:
        # the read ends at the pid or at the keeper's exit, which closes the pipe
        raw = await asyncio.wait_for(asyncio.to_thread(read), _REPORT_TIMEOUT_S)
    except TimeoutError:
        return None
    text = raw.decode("ascii", "replace").strip()
    return int(text) if text.isdigit() else None


def _executable(program: str) -> bool:
    if os.sep in program:
        return os.access(program, os.X_OK) and not Path(program).is_dir()
    return shutil.which(program) is not None


class _ChildProtocol(asyncio.subprocess.SubprocessStreamProtocol):
    """Reports the exit the moment it happens.

    ``asyncio.subprocess.Process.wait()`` (Python 3.11) also waits until every
    pipe is closed, which never happens while a grandchild still holds one: a
    crash would go unnoticed for as long as the grandchild lives.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(limit=2**16, loop=loop)
        self.exited = asyncio.Event()

    def process_exited(self) -> None:
        super().process_exited()
        self.exited.set()


def _job_for(name: str, pid: int) -> _JobLike | None:
    """A kill-on-close Job Object holding ``pid`` (Windows), or ``None`` if that fails."""
    if sys.platform != "win32":
        return None
    from voice_sidecar.supervisor import _windows

    try:
        job = _windows.JobObject()
    except OSError as error:
        log.warning("%s: no Job Object (%s); relying on the tree scan", name, error)
        return None
    try:
        job.assign(pid)
    except OSError as error:  # e.g. a parent job that forbids nesting (before Windows 8)
        log.warning("%s: no Job Object (%s); relying on the tree scan", name, error)
        job.close()
        return None
    return job


class _JobLike(Protocol):
    """What ``_RealChild`` needs from a Windows Job Object."""

    def terminate(self) -> None: ...

    def close(self) -> None: ...


class _RealChild:
    def __init__(
        self,
        name: str,
        transport: asyncio.SubprocessTransport,
        protocol: _ChildProtocol,
        marker: str,
        started: float,
        job: _JobLike | None,
    ) -> None:
        self._transport = transport
        self._protocol = protocol
        self._pid = transport.get_pid()
        self._group = self._pid  # the direct child leads its session (POSIX)
        self._marker = marker
        self._started = started
        self._job = job
        try:
            self._leader: psutil.Process | None = psutil.Process(self._pid)
        except psutil.Error:
            self._leader = None  # already gone; the marker scan still finds its children
        self._tail: collections.deque[str] = collections.deque(maxlen=OUTPUT_TAIL_LINES)
        self._output = asyncio.ensure_future(
            _log_output(
                protocol.stdout, logging.getLogger(f"voice_sidecar.service.{name}"), self._tail
            )
        )

    def report_service(self, pid: int | None) -> None:
        """The direct child is a keeper: report the service it runs as our pid."""
        if pid is not None:
            self._pid = pid

    @property
    def pid(self) -> int:
        return self._pid

    @property
    def returncode(self) -> int | None:
        return self._transport.get_returncode()

    async def wait(self) -> int:
        await self._protocol.exited.wait()
        code = self._transport.get_returncode()
        return code if code is not None else -1

    def request_stop(self) -> None:
        self._close_stdin()
        if self.returncode is not None:
            return
        if sys.platform == "win32":
            from voice_sidecar.supervisor import _windows

            _windows.request_stop(self._group)
        else:
            from voice_sidecar.supervisor import _posix

            _posix.request_stop(self._group)

    async def kill_tree(self) -> None:
        if self._job is not None:
            self._job.terminate()
        await asyncio.to_thread(tree.kill_tree, self._leader, self._marker, started=self._started)

    async def release(self) -> None:
        self._close_stdin()
        # the pipe ends when the last process holding it is gone; do not wait for a straggler
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._output), _OUTPUT_DRAIN_S)
        self._output.cancel()
        self._transport.close()
        if self._job is not None:
            self._job.close()
            self._job = None

    def output_tail(self) -> list[str]:
        return list(self._tail)

    def _close_stdin(self) -> None:
        stdin = self._protocol.stdin
        if stdin is not None and not stdin.is_closing():
            with contextlib.suppress(OSError):
                stdin.close()


async def _log_output(
    stream: asyncio.StreamReader | None, log: logging.Logger, tail: collections.deque[str]
) -> None:
    """Log the child's output line by line; overlong lines are cut, bad UTF-8 replaced."""
    if stream is None:
        return
    pending = b""
    while chunk := await stream.read(65536):
        pending += chunk
        *lines, pending = pending.split(b"\n")
        if len(pending) > _MAX_LINE:
            lines.append(pending)
            pending = b""
        for line in lines:
            _log_line(log, line, tail)
    if pending:
        _log_line(log, pending, tail)


def _log_line(log: logging.Logger, line: bytes, tail: collections.deque[str]) -> None:
    text = line[:_MAX_LINE].decode("utf-8", errors="replace").rstrip("\r")
    if text:
        log.info("%s", text)
        tail.append(text[:_TAIL_LINE_CHARS])
