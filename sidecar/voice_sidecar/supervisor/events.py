"""What the supervisor reports: state changes as events, and a snapshot for ``GET /health``."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum


class ServiceState(StrEnum):
    STARTING = "starting"
    """Spawned; waiting for the readiness probe."""
    READY = "ready"
    UNHEALTHY = "unhealthy"
    """A liveness probe failed; restarted after ``failures_before_restart`` in a row."""
    RESTARTING = "restarting"
    """The process tree is gone; waiting out the backoff before the next start."""
    STOPPED = "stopped"
    FATAL = "fatal"
    """Crash loop or unstartable program: no further restarts."""


@dataclass(frozen=True)
class ServiceEvent:
    """One state change of one service. ``message`` never holds child output or secrets."""

    service: str
    state: ServiceState
    restarts: int
    pid: int | None
    message: str | None

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class ServiceStatus:
    """The current state of one service; ``last_error`` survives a recovery."""

    state: ServiceState
    restarts: int
    pid: int | None
    last_error: str | None
    last_exit_code: int | None = None
    """The exit code of the last child that exited by itself (None: a signal, or none did)."""
    last_signal: str | None = None
    """The signal that ended the last child that exited, e.g. ``SIGSEGV``."""
    last_output: tuple[str, ...] = ()
    """The last lines the last failed child wrote (not redacted: child output)."""

    def as_dict(self) -> dict[str, object]:
        return asdict(self)
