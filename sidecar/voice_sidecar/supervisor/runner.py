"""One service's life: spawn, wait until ready, watch its health, restart or give up.

Every wait races the child's exit against a probe and a deadline on the injected
clock, so the same code runs in real time and in a test's virtual time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from voice_sidecar.log import logger
from voice_sidecar.supervisor.clock import Clock
from voice_sidecar.supervisor.decisions import (
    Failure,
    FailureKind,
    GiveUp,
    decide_restart,
    describe_exit,
    exit_fields,
)
from voice_sidecar.supervisor.events import ServiceEvent, ServiceState, ServiceStatus
from voice_sidecar.supervisor.resources import is_resource_shortage
from voice_sidecar.supervisor.spawner import ChildProcess, Spawner
from voice_sidecar.supervisor.spec import Probe, ServiceSpec

log = logger.getChild("supervisor")

KILL_WAIT_S = 5.0
"""How long to wait for the direct child to be reaped after the tree was killed."""

_LEVELS = {
    ServiceState.UNHEALTHY: logging.WARNING,
    ServiceState.RESTARTING: logging.WARNING,
    ServiceState.FATAL: logging.ERROR,
}


async def race(*waits: Awaitable[Any]) -> tuple[int, asyncio.Future[Any]]:
    """Wait for the first of ``waits``; cancel the others. Returns the winner's index
    (the lowest when several finished together) and its future."""
    futures = [asyncio.ensure_future(w) for w in waits]
    try:
        await asyncio.wait(futures, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for future in futures:
            future.cancel()
        await asyncio.gather(*futures, return_exceptions=True)
    for index, future in enumerate(futures):
        if future.done() and not future.cancelled():
            return index, future
    raise asyncio.CancelledError  # every wait was cancelled from outside


class ServiceRunner:
    def __init__(
        self,
        spec: ServiceSpec,
        *,
        clock: Clock,
        spawner: Spawner,
        emit: Callable[[ServiceEvent], None],
    ) -> None:
        self.spec = spec
        self._clock = clock
        self._spawner = spawner
        self._emit = emit
        self._state = ServiceState.STOPPED
        self._restarts = 0
        self._last_error: str | None = None
        self._last_returncode: int | None = None
        self._last_output: tuple[str, ...] = ()
        self._restart_times: list[float] = []
        self._failed_starts = 0
        self._child: ChildProcess | None = None
        self._terminating: asyncio.Future[None] | None = None
        self.settled = asyncio.Event()
        """Set once the service first became ready, went fatal or was stopped."""

    @property
    def state(self) -> ServiceState:
        return self._state

    def status(self) -> ServiceStatus:
        pid = self._child.pid if self._child is not None else None
        code, signame = exit_fields(self._last_returncode)
        return ServiceStatus(
            self._state, self._restarts, pid, self._last_error, code, signame, self._last_output
        )

    def event(self, message: str | None = None) -> ServiceEvent:
        pid = self._child.pid if self._child is not None else None
        return ServiceEvent(self.spec.name, self._state, self._restarts, pid, message)

    async def run(self) -> ServiceEvent:
        """Supervise until FATAL (returns that event) or cancellation (stops the tree)."""
        try:
            while True:
                failure = await self._attempt()
                self._last_error = failure.message
                if failure.before_ready:
                    self._failed_starts += 1
                now = self._clock.monotonic()
                decision = decide_restart(
                    self.spec.restart,
                    failure,
                    now=now,
                    restart_times=self._restart_times,
                    failed_starts=self._failed_starts,
                )
                if isinstance(decision, GiveUp):
                    return self._fatal(f"{failure.message}; {decision.reason}")
                window = self.spec.restart.crash_window_s
                self._restart_times = [t for t in self._restart_times if now - t < window]
                if decision.counted:
                    self._restart_times.append(now)
                self._restarts += 1
                self._set(
                    ServiceState.RESTARTING,
                    f"{failure.message}; restarting in {decision.delay_s:.3g} s",
                )
                await self._clock.sleep(decision.delay_s)
        except Exception as error:  # a bug here must not leave a service silently dead
            log.exception("%s: supervision failed", self.spec.name)
            return self._fatal(f"supervision failed: {type(error).__name__}")
        finally:
            if self._terminating is not None:
                await self._terminating
            await self._stop_child()
            self.settled.set()

    def mark_stopped(self) -> None:
        if self._state is not ServiceState.FATAL:
            self._set(ServiceState.STOPPED, "stopped")
        self.settled.set()

    def _set(self, state: ServiceState, message: str | None = None) -> ServiceEvent:
        self._state = state
        event = self.event(message)
        detail = f" ({message})" if message else ""
        log.log(_LEVELS.get(state, logging.INFO), "%s: %s%s", self.spec.name, state.value, detail)
        self._emit(event)
        return event

    def _fatal(self, message: str) -> ServiceEvent:
        self._last_error = message
        event = self._set(ServiceState.FATAL, message)
        self.settled.set()
        return event

    async def _attempt(self) -> Failure:
        """One life of the child, from spawn until it failed and its tree is gone."""
        try:
            child = await self._spawn()
        except OSError as error:
            reason = error.strerror or str(error)
            if is_resource_shortage(error):
                return Failure(
                    FailureKind.NO_RESOURCES,
                    f"the supervisor could not start {self.spec.name} ({reason}); "
                    "not a fault of the service",
                )
            return Failure(FailureKind.SPAWN_FAILED, f"cannot start {self.spec.argv[0]}: {reason}")
        self._set(ServiceState.STARTING)
        failure = await self._wait_ready(child)
        if failure is None:
            self._failed_starts = 0
            self._set(ServiceState.READY)
            self.settled.set()
            failure = await self._monitor(child)
        await self._stop_child()
        if failure.kind is FailureKind.EXITED_BEFORE_READY and self.spec.diagnose is not None:
            found = self.spec.diagnose()
            if found:
                failure = Failure(FailureKind.CONFLICT, found, failure.returncode)
        self._last_returncode = failure.returncode
        self._last_output = tuple(child.output_tail())  # drained by the stop
        return failure

    async def _spawn(self) -> ChildProcess:
        # a cancellation must not lose a child that is being created
        spawning = asyncio.ensure_future(self._spawner.spawn(self.spec))
        try:
            self._child = await asyncio.shield(spawning)
        except asyncio.CancelledError:
            with contextlib.suppress(OSError):
                self._child = await spawning
            raise
        return self._child

    async def _wait_ready(self, child: ChildProcess) -> Failure | None:
        probe = self.spec.ready_probe
        if probe is None:
            return None
        timeout = self.spec.ready_timeout_s
        index, winner = await race(
            child.wait(), self._until_ready(probe), self._clock.sleep(timeout)
        )
        if index == 0:
            code = describe_exit(winner.result())
            return Failure(
                FailureKind.EXITED_BEFORE_READY,
                f"exited before it was ready ({code})",
                winner.result(),
            )
        if index == 1:
            return None
        return Failure(FailureKind.NOT_READY, f"not ready within {timeout:g} s")

    async def _until_ready(self, probe: Probe) -> None:
        while await self._probe(probe) is not True:  # an inconclusive probe is not "ready"
            await self._clock.sleep(self.spec.ready_interval_s)

    async def _monitor(self, child: ChildProcess) -> Failure:
        probe = self.spec.live_probe
        waits: list[Awaitable[Any]] = [child.wait()]
        if probe is not None:
            waits.append(self._watch_liveness(probe))
        index, winner = await race(*waits)
        if index == 0:
            returncode = winner.result()
            return Failure(FailureKind.EXITED, f"exited ({describe_exit(returncode)})", returncode)
        failure: Failure = winner.result()
        return failure

    async def _watch_liveness(self, probe: Probe) -> Failure:
        limit = self.spec.failures_before_restart
        failures = 0
        inconclusive = 0
        while True:
            await self._clock.sleep(self.spec.probe_interval_s)
            result = await self._probe(probe)
            if result is None:  # our own shortage: says nothing about the service
                inconclusive += 1
                if inconclusive == 1:
                    log.warning(
                        "%s: health check could not run (the supervisor is short of "
                        "descriptors or memory); not counted against the service",
                        self.spec.name,
                    )
                continue
            inconclusive = 0
            if result:
                if failures:
                    failures = 0
                    self._set(ServiceState.READY, "health check passes again")
                continue
            failures += 1
            if failures == 1:
                self._set(ServiceState.UNHEALTHY, "health check failed")
            if failures >= limit:
                return Failure(FailureKind.UNHEALTHY, f"{failures} health checks failed in a row")

    async def _probe(self, probe: Probe) -> bool | None:
        """One bounded probe; an exception or no answer in time counts as a failure, except
        a resource shortage of our own, which is inconclusive (``None``)."""
        index, winner = await race(probe(), self._clock.sleep(self.spec.probe_timeout_s))
        if index == 1:
            log.debug("%s: probe gave no answer in %g s", self.spec.name, self.spec.probe_timeout_s)
            return False
        error = winner.exception()
        if error is not None:
            if is_resource_shortage(error):
                return None
            log.debug("%s: probe failed: %r", self.spec.name, error)
            return False
        return bool(winner.result())

    async def _stop_child(self) -> None:
        """Stop the current tree; a cancellation meanwhile does not interrupt it."""
        child, self._child = self._child, None
        if child is None:
            return
        self._terminating = asyncio.ensure_future(self._terminate(child))
        try:
            await asyncio.shield(self._terminating)
        finally:
            if self._terminating.done():
                self._terminating = None

    async def _terminate(self, child: ChildProcess) -> None:
        """Polite stop, ``stop_grace_s`` to comply, then kill the whole tree."""
        if child.returncode is None:
            child.request_stop()
            await race(child.wait(), self._clock.sleep(self.spec.stop_grace_s))
            if child.returncode is None:
                log.warning(
                    "%s: pid %d did not stop within %g s of being asked to; killing its tree",
                    self.spec.name,
                    child.pid,
                    self.spec.stop_grace_s,
                )
        await child.kill_tree()
        if child.returncode is None:
            index, _ = await race(child.wait(), self._clock.sleep(KILL_WAIT_S))
            if index == 1:
                log.warning("%s: pid %d did not exit after SIGKILL", self.spec.name, child.pid)
        await child.release()
