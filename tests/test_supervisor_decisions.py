"""The restart rules are pure functions: tables of facts in, decisions out."""

from __future__ import annotations

import pytest

from voice_sidecar.supervisor import RestartPolicy, backoff_delay, decide_restart
from voice_sidecar.supervisor.decisions import (
    Failure,
    FailureKind,
    GiveUp,
    Restart,
    describe_exit,
)

POLICY = RestartPolicy(
    backoff_base_s=0.5,
    backoff_factor=2.0,
    backoff_max_s=4.0,
    crash_window_s=60.0,
    max_restarts_in_window=5,
    max_failed_starts=3,
)
EXITED = Failure(FailureKind.EXITED, "exited (exit code 1)")
NOT_READY = Failure(FailureKind.NOT_READY, "not ready within 30 s")


@pytest.mark.parametrize(
    ("earlier", "delay"),
    [(0, 0.5), (1, 1.0), (2, 2.0), (3, 4.0), (4, 4.0), (50, 4.0), (-1, 0.5)],
)
def test_backoff_doubles_up_to_the_cap(earlier: int, delay: float) -> None:
    assert backoff_delay(POLICY, earlier) == delay


@pytest.mark.parametrize(
    ("failure", "now", "restart_times", "failed_starts", "expected"),
    [
        pytest.param(EXITED, 100.0, [], 0, Restart(0.5), id="first-crash"),
        pytest.param(EXITED, 100.0, [90.0, 95.0], 0, Restart(2.0), id="third-crash-backs-off"),
        pytest.param(
            EXITED, 100.0, [10.0, 20.0, 30.0], 0, Restart(0.5), id="old-restarts-forgotten"
        ),
        pytest.param(EXITED, 100.0, [41.0, 50, 60, 70, 80], 0, GiveUp, id="crash-loop"),
        pytest.param(EXITED, 100.0, [40.0, 50, 60, 70, 80], 0, Restart(4.0), id="window-edge"),
        pytest.param(NOT_READY, 100.0, [], 2, Restart(0.5), id="second-failed-start"),
        pytest.param(NOT_READY, 100.0, [], 3, GiveUp, id="third-failed-start"),
        pytest.param(EXITED, 100.0, [], 3, Restart(0.5), id="failed-starts-only-before-ready"),
        pytest.param(
            Failure(FailureKind.SPAWN_FAILED, "cannot start x"), 0.0, [], 1, GiveUp, id="no-binary"
        ),
    ],
)
def test_decide_restart(
    failure: Failure,
    now: float,
    restart_times: list[float],
    failed_starts: int,
    expected: Restart | type[GiveUp],
) -> None:
    decision = decide_restart(
        POLICY, failure, now=now, restart_times=restart_times, failed_starts=failed_starts
    )
    if expected is GiveUp:
        assert isinstance(decision, GiveUp)
    else:
        assert decision == expected


def test_crash_loop_reason_names_the_window() -> None:
    decision = decide_restart(
        POLICY, EXITED, now=10.0, restart_times=[1, 2, 3, 4, 5], failed_starts=0
    )
    assert decision == GiveUp("crash loop: 5 restarts within 60 s, not restarting")


@pytest.mark.parametrize(
    ("code", "text"),
    [(0, "exit code 0"), (3, "exit code 3"), (-9, "killed by SIGKILL"), (-15, "killed by SIGTERM")],
)
def test_describe_exit(code: int, text: str) -> None:
    assert describe_exit(code) == text


@pytest.mark.parametrize(
    "changes",
    [
        {"backoff_base_s": -1.0},
        {"backoff_base_s": 5.0, "backoff_max_s": 1.0},
        {"backoff_factor": 0.5},
        {"crash_window_s": 0.0},
        {"max_failed_starts": 0},
    ],
)
def test_invalid_policies_are_refused(changes: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=r"must|needs|required"):
        RestartPolicy(**changes)  # type: ignore[arg-type]
