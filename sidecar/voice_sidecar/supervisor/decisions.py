"""Whether and when to restart: pure functions of the failure and the restart history."""

from __future__ import annotations

import signal
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

from voice_sidecar.supervisor.spec import RestartPolicy


class FailureKind(Enum):
    SPAWN_FAILED = "spawn_failed"
    EXITED_BEFORE_READY = "exited_before_ready"
    NOT_READY = "not_ready"
    EXITED = "exited"
    UNHEALTHY = "unhealthy"
    CONFLICT = "conflict"
    """It exited before it was ready and ``ServiceSpec.diagnose`` found why (a taken port):
    restarting cannot help."""
    NO_RESOURCES = "no_resources"
    """The supervisor itself ran short (descriptors, memory) starting the child: retried
    after a backoff, never counted as a crash of the service."""


@dataclass(frozen=True)
class Failure:
    kind: FailureKind
    message: str
    returncode: int | None = None
    """The child's exit status when it exited (negative: the signal that ended it)."""

    @property
    def before_ready(self) -> bool:
        return self.kind in (
            FailureKind.EXITED_BEFORE_READY,
            FailureKind.NOT_READY,
            FailureKind.CONFLICT,
        )


@dataclass(frozen=True)
class Restart:
    delay_s: float
    counted: bool = True
    """Whether this restart counts towards the crash loop (a shortage of ours does not)."""


@dataclass(frozen=True)
class GiveUp:
    reason: str


def backoff_delay(policy: RestartPolicy, earlier_restarts: int) -> float:
    """Delay before a restart when ``earlier_restarts`` happened within the crash window."""
    delay = policy.backoff_base_s * policy.backoff_factor ** max(earlier_restarts, 0)
    return min(policy.backoff_max_s, delay)


def recent_restarts(policy: RestartPolicy, restart_times: Sequence[float], now: float) -> int:
    return sum(1 for t in restart_times if now - t < policy.crash_window_s)


def decide_restart(
    policy: RestartPolicy,
    failure: Failure,
    *,
    now: float,
    restart_times: Sequence[float],
    failed_starts: int,
) -> Restart | GiveUp:
    """Restart after a backoff, or give up.

    ``restart_times`` are the clock readings of earlier restarts; ``failed_starts``
    counts consecutive attempts that never became ready, this one included.
    """
    if failure.kind is FailureKind.SPAWN_FAILED:
        return GiveUp("the program cannot be started")
    if failure.kind is FailureKind.CONFLICT:
        return GiveUp("not restarting")
    recent = recent_restarts(policy, restart_times, now)
    if failure.kind is FailureKind.NO_RESOURCES:
        return Restart(max(backoff_delay(policy, recent), policy.backoff_base_s), counted=False)
    if recent >= policy.max_restarts_in_window:
        return GiveUp(
            f"crash loop: {recent} restarts within {policy.crash_window_s:g} s, not restarting"
        )
    if failure.before_ready and failed_starts >= policy.max_failed_starts:
        return GiveUp(f"never became ready in {failed_starts} attempts, not restarting")
    return Restart(backoff_delay(policy, recent))


def exit_fields(returncode: int | None) -> tuple[int | None, str | None]:
    """(exit code, signal name) of a return code, for reports; (None, None) if it did not exit."""
    if returncode is None:
        return None, None
    if returncode < 0:
        try:
            return None, signal.Signals(-returncode).name
        except ValueError:
            return None, f"signal {-returncode}"
    return returncode, None


def describe_exit(returncode: int) -> str:
    """``exit code 3`` or ``killed by SIGKILL``: no output of the child, so no secrets."""
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exit code {returncode}"
