"""One lock per model, held across processes, so a model is never fetched twice at once.

An OS lock on a lock file (``fcntl.flock`` on POSIX, ``msvcrt.locking`` on
Windows): the OS releases it when the holder exits, even when it is killed, so a
crashed download never leaves a stale lock behind.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from voice_sidecar.errors import ModelDownloadError


class LockTimeoutError(ModelDownloadError):
    """Another process held a model's lock for longer than we were willing to wait."""


def _try_lock(fd: int) -> bool:
    if sys.platform == "win32":
        import msvcrt

        try:
            os.lseek(fd, 0, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _unlock(fd: int) -> None:
    if sys.platform == "win32":
        import msvcrt

        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
        return
    import fcntl

    fcntl.flock(fd, fcntl.LOCK_UN)


class ModelLock:
    """``with ModelLock(path): ...``; ``on_wait`` is called once if another process holds it."""

    def __init__(
        self,
        path: Path,
        *,
        timeout_s: float | None = None,
        poll_s: float = 0.2,
        on_wait: Callable[[], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.path = path
        self._timeout_s = timeout_s
        self._poll_s = poll_s
        self._on_wait = on_wait
        self._clock = clock
        self._sleep = sleep
        self._fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        started = self._clock()
        waited = False
        try:
            while not _try_lock(fd):
                if not waited and self._on_wait is not None:
                    self._on_wait()
                waited = True
                if self._timeout_s is not None and self._clock() - started > self._timeout_s:
                    raise LockTimeoutError(
                        f"another voice-sidecar process is still fetching this model "
                        f"(lock {self.path}); try again when it has finished"
                    )
                self._sleep(self._poll_s)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd

    def release(self) -> None:
        if self._fd is None:
            return
        try:
            _unlock(self._fd)
        finally:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> ModelLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()
