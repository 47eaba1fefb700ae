"""The supervisor as a state machine: scripted children, a virtual clock, milliseconds per case."""

from __future__ import annotations

import dataclasses
import errno
import logging
from typing import Any

import pytest

from voice_sidecar.supervisor import (
    RestartPolicy,
    ServiceEvent,
    ServiceSpec,
    ServiceState,
    Supervisor,
    SupervisorStartError,
)

from .supervisor_fakes import FakeClock, FakeSpawner, Script

pytestmark = pytest.mark.timeout(10)

POLICY = RestartPolicy(
    backoff_base_s=1.0,
    backoff_factor=2.0,
    backoff_max_s=8.0,
    crash_window_s=60.0,
    max_restarts_in_window=3,
    max_failed_starts=3,
)


class World:
    """One supervisor over scripted services, with every event and its virtual time."""

    def __init__(self, services: dict[str, list[Script]], **spec_changes: Any) -> None:
        self.clock = FakeClock()
        self.spawners = {name: FakeSpawner(self.clock, s) for name, s in services.items()}
        self.events: list[tuple[float, ServiceEvent]] = []
        specs = [
            dataclasses.replace(
                ServiceSpec(
                    name=name,
                    argv=[name],
                    env={},
                    ready_probe=spawner.ready_probe,
                    live_probe=spawner.live_probe,
                    ready_timeout_s=10.0,
                    ready_interval_s=0.25,
                    probe_interval_s=1.0,
                    probe_timeout_s=0.5,
                    failures_before_restart=3,
                    stop_grace_s=2.0,
                    restart=POLICY,
                ),
                **spec_changes,
            )
            for name, spawner in self.spawners.items()
        ]
        self.supervisor = Supervisor(
            specs,
            on_event=lambda e: self.events.append((self.clock.now, e)),
            clock=self.clock,
            spawner=_Router(self.spawners),
        )

    async def start(self) -> SupervisorStartError | None:
        try:
            await self.clock.run(self.supervisor.start())
        except SupervisorStartError as error:
            return error
        return None

    async def stop(self) -> None:
        await self.clock.run(self.supervisor.stop())
        for spawner in self.spawners.values():
            await spawner.close()

    def states(self, service: str | None = None) -> list[str]:
        return [e.state.value for _, e in self.events if service in (None, e.service)]

    def times(self, state: ServiceState) -> list[float]:
        return [t for t, e in self.events if e.state is state]


class _Router:
    """Sends each spec to its own scripted spawner."""

    def __init__(self, spawners: dict[str, FakeSpawner]) -> None:
        self.spawners = spawners

    async def spawn(self, spec: ServiceSpec) -> Any:
        return await self.spawners[spec.name].spawn(spec)


S, R, U, RS, STOP, F = "starting", "ready", "unhealthy", "restarting", "stopped", "fatal"


@pytest.mark.parametrize(
    ("scripts", "expected"),
    [
        pytest.param([Script()], [S, R, STOP], id="healthy"),
        pytest.param([Script(ready_at=3.0)], [S, R, STOP], id="slow-ready-within-deadline"),
        pytest.param([Script(exit_at=5), Script()], [S, R, RS, S, R, STOP], id="crash-recovers"),
        pytest.param([Script(exit_at=5)], [S, R, *[RS, S, R] * 3, F], id="crash-loop-fatal"),
        pytest.param(
            [Script(exit_at=100)], [S, R, *[RS, S, R] * 4, STOP], id="crashes-far-apart-no-fatal"
        ),
        pytest.param(
            [Script(ready_at=None, exit_at=1)], [S, RS, S, RS, S, F], id="exits-before-ready-fatal"
        ),
        pytest.param([Script(ready_at=None)], [S, RS, S, RS, S, F], id="never-ready-fatal"),
        pytest.param(
            [Script(ready_at=None), Script(ready_at=2)], [S, RS, S, R, STOP], id="ready-second-try"
        ),
        pytest.param(
            [Script(silent_from=10), Script()], [S, R, U, RS, S, R, STOP], id="hang-restarted"
        ),
        pytest.param(
            [Script(unhealthy=(10, 100)), Script()],
            [S, R, U, RS, S, R, STOP],
            id="unhealthy-restarted",
        ),
        pytest.param([Script(unhealthy=(10, 11.5))], [S, R, U, R, STOP], id="flaky-recovers"),
        pytest.param([Script(spawn_error=True)], [F], id="cannot-spawn-fatal"),
    ],
)
async def test_event_sequences(scripts: list[Script], expected: list[str]) -> None:
    world = World({"svc": scripts})
    await world.start()
    await world.clock.run_for(450.0)
    await world.stop()
    assert world.states() == expected


async def test_crash_loop_backs_off_exponentially_then_goes_fatal() -> None:
    world = World({"svc": [Script(exit_at=5)]})
    await world.start()
    fatal = await world.clock.run(world.supervisor.wait_fatal())
    # exits at 5, 11, 18, 27: waits of 1, 2 and 4 s, then 3 restarts within 60 s is the limit
    assert world.times(ServiceState.RESTARTING) == [5.0, 11.0, 18.0]
    assert world.times(ServiceState.STARTING) == [0.0, 6.0, 13.0, 22.0]
    assert world.times(ServiceState.FATAL) == [27.0]
    assert fatal.restarts == 3
    assert fatal.pid is None
    assert fatal.message is not None
    assert "exit code 1" in fatal.message
    assert "crash loop" in fatal.message
    status = world.supervisor.status()["svc"]
    assert (status.state, status.restarts, status.pid) == (ServiceState.FATAL, 3, None)
    assert status.last_error == fatal.message
    await world.stop()
    assert world.states()[-1] == F  # stop() keeps a FATAL service FATAL


async def test_start_raises_when_the_first_service_cannot_become_ready() -> None:
    world = World({"a": [Script(ready_at=None)], "b": [Script()]})
    error = await world.start()
    assert isinstance(error, SupervisorStartError)
    assert error.event.service == "a"
    assert error.event.state is ServiceState.FATAL
    assert "not ready within 10 s" in str(error)
    assert world.spawners["b"].children == []  # b never started
    assert all(c.returncode is not None for c in world.spawners["a"].children)


async def test_services_start_in_order_and_stop_in_reverse() -> None:
    world = World({"server": [Script(ready_at=2.0)], "agent": [Script(ready_at=1.0)]})
    assert await world.start() is None
    assert world.spawners["agent"].children[0].spawned_at == 2.0  # after server was ready
    await world.stop()
    stopped = [e.service for _, e in world.events if e.state is ServiceState.STOPPED]
    assert stopped == ["agent", "server"]


async def test_stop_is_polite_first_and_kills_after_the_grace_period(
    caplog: pytest.LogCaptureFixture,
) -> None:
    world = World({"polite": [Script()], "stubborn": [Script(ignores_term=True)]})
    await world.start()
    before = world.clock.now
    with caplog.at_level(logging.WARNING, logger="voice_sidecar.supervisor"):
        await world.stop()
    # issue 15.7: the escalation to SIGKILL was silent
    escalations = [
        r.getMessage() for r in caplog.records if "did not stop within" in r.getMessage()
    ]
    stubborn_pid = world.spawners["stubborn"].children[0].pid
    assert escalations == [
        f"stubborn: pid {stubborn_pid} did not stop within 2 s of being asked to; killing its tree"
    ]
    polite = world.spawners["polite"].children[0]
    stubborn = world.spawners["stubborn"].children[0]
    assert polite.calls == ["request_stop", "kill_tree", "release"]
    assert polite.returncode == -15
    assert stubborn.calls == ["request_stop", "kill_tree", "release"]
    assert stubborn.returncode == -9
    # stubborn (stopped first) used its whole 2 s grace, polite took 0.1 s
    assert world.clock.now - before == pytest.approx(2.1)


async def test_a_crashed_tree_is_still_killed_before_the_restart() -> None:
    """A child that exits may leave grandchildren behind: kill_tree runs anyway."""
    world = World({"svc": [Script(exit_at=5), Script()]})
    await world.start()
    await world.clock.run_for(10)
    first = world.spawners["svc"].children[0]
    assert first.calls == ["kill_tree", "release"]  # no polite stop for a dead child
    await world.stop()


async def test_stop_is_idempotent_and_concurrent_calls_share_it() -> None:
    world = World({"svc": [Script()]})
    await world.start()
    await world.clock.run(_gather(world.supervisor.stop(), world.supervisor.stop()))
    await world.stop()
    assert world.states() == [S, R, STOP]


async def test_stop_during_backoff_ends_the_loop_without_a_new_child() -> None:
    world = World({"svc": [Script(exit_at=5), Script()]})
    await world.start()
    await world.clock.run_for(5.5)  # crashed at 5, restart due at 6
    await world.stop()
    await world.clock.run_for(10)
    assert len(world.spawners["svc"].children) == 1
    assert world.states() == [S, R, RS, STOP]


async def test_stop_during_start_makes_start_raise() -> None:
    world = World({"svc": [Script(ready_at=5.0)]})

    async def start_then_stop() -> BaseException | None:
        starting = world.supervisor.start()
        import asyncio

        task = asyncio.ensure_future(starting)
        await world.clock.sleep(1.0)
        await world.supervisor.stop()
        try:
            await task
        except SupervisorStartError as error:
            return error
        return None

    error = await world.clock.run(start_then_stop())
    assert isinstance(error, SupervisorStartError)
    assert error.event.state is ServiceState.STOPPED
    assert world.spawners["svc"].children[0].returncode is not None


async def test_probe_exceptions_count_as_failures() -> None:
    calls = 0

    async def broken() -> bool:
        nonlocal calls
        calls += 1
        raise ConnectionResetError

    world = World({"svc": [Script(), Script()]}, live_probe=broken)
    await world.start()
    await world.clock.run_for(3.5)
    assert world.states() == [S, R, U, RS]
    assert calls == 3
    await world.stop()


async def test_our_own_descriptor_shortage_never_makes_a_healthy_service_fatal() -> None:
    """Issue 15.1: with the supervisor out of descriptors every health check failed, the
    restart failed with "Too many open files" (taken as "cannot be started") and `up` ended
    FATAL within 10 s. A probe that cannot open its socket is inconclusive, and a spawn that
    cannot create its pipes is retried without counting as a crash."""
    short = True

    async def probe() -> bool:
        if short:
            raise OSError(errno.EMFILE, "Too many open files")
        return True

    world = World(
        {"svc": [Script(), *[Script(spawn_error=True, spawn_errno=errno.EMFILE)] * 8, Script()]},
        live_probe=probe,
    )
    await world.start()
    await world.clock.run_for(120)
    assert world.states() == [S, R], "an inconclusive probe restarted a healthy service"
    short = False
    await world.clock.run_for(10)
    await world.stop()
    assert world.states() == [S, R, STOP]


async def test_a_spawn_short_of_descriptors_is_retried_not_fatal() -> None:
    world = World({"svc": [*[Script(spawn_error=True, spawn_errno=errno.EMFILE)] * 8, Script()]})
    await world.start()
    states = world.states()
    assert states == [RS] * 8 + [S, R], states
    assert "not a fault of the service" in (world.events[0][1].message or "")
    await world.stop()


async def test_an_exit_before_ready_that_diagnose_explains_is_not_restarted() -> None:
    """Issue 15.8: a port taken after the start-up check made the agent exit at once, three
    times, and the crash loop named no port."""
    world = World(
        {"svc": [Script(ready_at=None, exit_at=0.5)]},
        diagnose=lambda: "TCP port 8081 on 127.0.0.1 is already in use",
    )
    error = await world.start()
    assert isinstance(error, SupervisorStartError)
    assert world.states() == [S, F]
    assert "TCP port 8081 on 127.0.0.1 is already in use" in str(error)
    await world.stop()


async def test_a_broken_event_callback_does_not_stop_supervision() -> None:
    world = World({"svc": [Script(exit_at=5), Script()]})

    def explode(event: ServiceEvent) -> None:
        raise RuntimeError("consumer bug")

    world.supervisor._on_event = explode  # the public constructor took a working one
    await world.start()
    await world.clock.run_for(10)
    assert world.supervisor.status()["svc"].state is ServiceState.READY
    assert world.supervisor.status()["svc"].restarts == 1
    await world.stop()


async def test_status_reports_pid_restarts_and_the_last_error() -> None:
    world = World({"svc": [Script(exit_at=5, exit_code=3), Script()]})
    await world.start()
    await world.clock.run_for(10)
    status = world.supervisor.status()["svc"]
    assert status.state is ServiceState.READY
    assert status.pid == world.spawners["svc"].children[1].pid
    assert status.restarts == 1
    assert status.last_error == "exited (exit code 3)"
    assert (status.last_exit_code, status.last_signal) == (3, None)
    first = world.spawners["svc"].children[0]
    assert status.last_output == (f"pid {first.pid} says goodbye",)
    assert status.as_dict()["state"] == "ready"
    await world.stop()
    assert world.supervisor.status()["svc"].pid is None


async def test_start_twice_is_refused() -> None:
    world = World({"svc": [Script()]})
    await world.start()
    with pytest.raises(RuntimeError):
        await world.supervisor.start()
    await world.stop()


def test_duplicate_service_names_are_refused() -> None:
    spec = ServiceSpec(name="x", argv=["x"], env={})
    with pytest.raises(ValueError, match="unique"):
        Supervisor([spec, spec], on_event=lambda e: None)


def test_spec_repr_never_shows_the_environment() -> None:
    spec = ServiceSpec(name="x", argv=["x"], env={"LIVEKIT_API_SECRET": "hunter2-secret"})
    assert "hunter2" not in repr(spec)


async def _gather(*aws: Any) -> None:
    import asyncio

    await asyncio.gather(*aws)


async def test_a_bug_in_supervision_is_fatal_not_silent() -> None:
    """An unexpected exception (not OSError) from the spawner must not leave the service
    dead without a report."""

    class Broken:
        async def spawn(self, spec: ServiceSpec) -> Any:
            raise RuntimeError("bug")

    clock = FakeClock()
    events: list[ServiceEvent] = []
    supervisor = Supervisor(
        [ServiceSpec(name="svc", argv=["svc"], env={})],
        on_event=events.append,
        clock=clock,
        spawner=Broken(),
    )
    with pytest.raises(SupervisorStartError, match="supervision failed: RuntimeError"):
        await clock.run(supervisor.start())
    assert [e.state for e in events] == [ServiceState.FATAL]
