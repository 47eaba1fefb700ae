"""The instance file: which sidecar runs, so a new start never adopts or fights a stranger.

JSON with the pid, the process's start time, its ports and the sidecar version.
It is published atomically and exclusively (written to a temporary file, then
hard-linked into place, which fails if another start won the race). A record
whose pid is gone, or whose pid now belongs to a process started at another
time (pid reuse), is stale: removed with a log line. A live one stops the new
start with ``InstanceRunningError``. The file holds no secrets.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path

import psutil

from voice_sidecar.errors import UserFacingError
from voice_sidecar.log import logger

log = logger.getChild("supervisor")

CREATE_TIME_TOLERANCE_S = 1.0


@dataclass(frozen=True)
class InstanceRecord:
    pid: int
    create_time: float
    """The process's start time (``psutil.Process.create_time()``, seconds since the epoch)."""
    version: str
    ports: Mapping[str, int] = field(default_factory=dict)
    started_at: str = ""
    """When the record was written, ISO 8601 UTC, for people reading the file."""

    def to_json(self) -> str:
        return json.dumps(
            {
                "pid": self.pid,
                "create_time": self.create_time,
                "version": self.version,
                "ports": dict(self.ports),
                "started_at": self.started_at,
            },
            indent=2,
        )

    @classmethod
    def from_json(cls, text: str) -> InstanceRecord:
        """Parse a record; ``ValueError`` for anything malformed."""
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        pid, created = data.get("pid"), data.get("create_time")
        version, ports = data.get("version", ""), data.get("ports", {})
        if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
            raise ValueError("pid is missing or invalid")
        if not isinstance(created, int | float) or isinstance(created, bool):
            raise ValueError("create_time is missing or invalid")
        if not isinstance(ports, dict) or not all(
            isinstance(k, str) and isinstance(v, int) for k, v in ports.items()
        ):
            raise ValueError("ports must map names to numbers")
        started = data.get("started_at", "")
        return cls(pid, float(created), str(version), ports, str(started))


class InstanceState(Enum):
    LIVE = "live"
    GONE = "gone"
    REUSED = "reused"


def classify(record: InstanceRecord, actual_create_time: float | None) -> InstanceState:
    """Decide from the recorded and the actual start time of ``record.pid``
    (``None``: no such process)."""
    if actual_create_time is None:
        return InstanceState.GONE
    if abs(actual_create_time - record.create_time) > CREATE_TIME_TOLERANCE_S:
        return InstanceState.REUSED
    return InstanceState.LIVE


def process_create_time(pid: int) -> float | None:
    """The start time of a running process; ``None`` if it does not exist or is a zombie."""
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return None
        created: float = process.create_time()
    except psutil.NoSuchProcess:
        return None
    return created


class InstanceRunningError(UserFacingError):
    """Another sidecar is running; it is reported, never adopted or killed."""

    exit_code = 8

    def __init__(self, record: InstanceRecord, path: Path) -> None:
        ports = ", ".join(f"{name} {port}" for name, port in record.ports.items())
        super().__init__(
            f"voice-sidecar {record.version} is already running (pid {record.pid}"
            f"{', ports ' + ports if ports else ''}; instance file {path}); "
            "quit the app that started it or end that process, then start again"
        )
        self.pid = record.pid
        self.record = record


class InstanceFile:
    """This process's claim on the instance file at ``path``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._mine: InstanceRecord | None = None

    def read(self) -> InstanceRecord | None:
        """The recorded instance, ``None`` without a file; ``ValueError`` if it is unreadable."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as error:
            raise ValueError(str(error)) from error
        return InstanceRecord.from_json(text)

    def claim(self, *, version: str, ports: Mapping[str, int] | None = None) -> InstanceRecord:
        """Record this process as the running instance.

        Raises ``InstanceRunningError`` if a live instance (this process included)
        holds the file; removes a stale or unreadable file first, with a log line.
        """
        me = psutil.Process()
        record = InstanceRecord(
            pid=me.pid,
            create_time=me.create_time(),
            version=version,
            ports=dict(ports or {}),
            started_at=datetime.now(UTC).isoformat(timespec="seconds"),
        )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(3):  # a concurrent start may win between our check and our write
            self._clear_stale()
            if self._publish(record, exclusive=True):
                self._mine = record
                return record
        current = self.read()
        if current is not None:
            raise InstanceRunningError(current, self.path)
        raise OSError(f"could not create the instance file {self.path}")

    def update(self, *, ports: Mapping[str, int]) -> InstanceRecord:
        """Rewrite our record with the ports known now (e.g. after binding port 0)."""
        if self._mine is None:
            raise RuntimeError("update() before claim()")
        self._mine = InstanceRecord(
            self._mine.pid,
            self._mine.create_time,
            self._mine.version,
            dict(ports),
            self._mine.started_at,
        )
        self._publish(self._mine, exclusive=False)
        return self._mine

    def release(self) -> None:
        """Remove the file if it still records this process."""
        mine, self._mine = self._mine, None
        if mine is None:
            return
        try:
            current = self.read()
        except ValueError:
            return
        if (
            current is not None
            and current.create_time == mine.create_time
            and current.pid == mine.pid
        ):
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()

    def _clear_stale(self) -> None:
        try:
            record = self.read()
        except ValueError as error:
            log.warning("removing unreadable instance file %s (%s)", self.path, error)
            self.path.unlink(missing_ok=True)
            return
        if record is None:
            return
        state = classify(record, process_create_time(record.pid))
        if state is InstanceState.LIVE:
            raise InstanceRunningError(record, self.path)
        why = "has exited" if state is InstanceState.GONE else "now belongs to another process"
        log.info(
            "removing stale instance file %s: pid %d %s (left by a run that did not stop cleanly)",
            self.path,
            record.pid,
            why,
        )
        self.path.unlink(missing_ok=True)

    def _publish(self, record: InstanceRecord, *, exclusive: bool) -> bool:
        """Write atomically; with ``exclusive``, only if no file exists (False otherwise)."""
        fd, name = tempfile.mkstemp(prefix=".instance-", dir=self.path.parent)
        temporary = Path(name)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(record.to_json())
                handle.flush()
                os.fsync(handle.fileno())
            if not exclusive:
                temporary.replace(self.path)
                return True
            try:
                os.link(temporary, self.path)
            except FileExistsError:
                return False
            except OSError:  # no hard links here (FAT, some network shares): best effort
                if self.path.exists():
                    return False
                temporary.replace(self.path)
            return True
        finally:
            temporary.unlink(missing_ok=True)
