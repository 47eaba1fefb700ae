"""What to run and how to judge it: one frozen description per supervised service."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

Probe = Callable[[], Awaitable[bool]]
"""An async health check: ``True`` means healthy (or ready). It should bound itself;
the supervisor also stops waiting after ``ServiceSpec.probe_timeout_s``."""


@dataclass(frozen=True)
class RestartPolicy:
    """Backoff between restarts and the limits that turn a crash loop into FATAL.

    The n-th restart within ``crash_window_s`` waits
    ``min(backoff_max_s, backoff_base_s * backoff_factor ** (n - 1))``. A service
    that already restarted ``max_restarts_in_window`` times within the window is not
    restarted again, and neither is one that failed to become ready
    ``max_failed_starts`` times in a row (slow failures never fill the window).
    """

    backoff_base_s: float = 0.5
    backoff_factor: float = 2.0
    backoff_max_s: float = 30.0
    crash_window_s: float = 60.0
    max_restarts_in_window: int = 5
    max_failed_starts: int = 3

    def __post_init__(self) -> None:
        if self.backoff_base_s < 0 or self.backoff_max_s < self.backoff_base_s:
            raise ValueError("backoff needs 0 <= backoff_base_s <= backoff_max_s")
        if self.backoff_factor < 1:
            raise ValueError("backoff_factor must be at least 1")
        if self.crash_window_s <= 0:
            raise ValueError("crash_window_s must be positive")
        if self.max_restarts_in_window < 0 or self.max_failed_starts < 1:
            raise ValueError("max_restarts_in_window >= 0 and max_failed_starts >= 1 are required")


@dataclass(frozen=True)
class ServiceSpec:
    """One child process: its command line, environment and health rules.

    ``argv`` never carries secrets (any user can read another process's command
    line); secrets travel in ``env``, which is the child's whole environment and is
    left out of ``repr`` so that logging a spec cannot leak them.
    """

    name: str
    argv: list[str]
    env: Mapping[str, str] = field(repr=False)
    cwd: str | None = None
    ready_probe: Probe | None = None
    """``True`` once the service accepts work; polled every ``ready_interval_s``
    until ``ready_timeout_s``. ``None``: ready as soon as it is spawned."""
    live_probe: Probe | None = None
    """``False`` (or an exception, or no answer in ``probe_timeout_s``) means
    unhealthy; polled every ``probe_interval_s`` once ready. ``None``: only an exit
    counts as a failure."""
    ready_timeout_s: float = 30.0
    probe_interval_s: float = 2.0
    failures_before_restart: int = 3
    stop_grace_s: float = 5.0
    restart: RestartPolicy = field(default_factory=RestartPolicy)
    ready_interval_s: float = 0.25
    probe_timeout_s: float = 2.0
    diagnose: Callable[[], str | None] | None = None
    """Asked when the service exited before it was ready (its tree gone): a message means it
    cannot start as configured, e.g. a port it needs is taken; it is then not restarted
    and the message is the reason. Must be quick and must not raise."""

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("a service needs a name")
        if not self.argv:
            raise ValueError(f"service {self.name!r} has an empty command line")
        timings = (
            self.ready_timeout_s,
            self.probe_interval_s,
            self.ready_interval_s,
            self.probe_timeout_s,
        )
        if min(timings) <= 0 or self.stop_grace_s < 0:
            raise ValueError(f"service {self.name!r}: timeouts and intervals must be positive")
        if self.failures_before_restart < 1:
            raise ValueError(f"service {self.name!r}: failures_before_restart must be >= 1")
