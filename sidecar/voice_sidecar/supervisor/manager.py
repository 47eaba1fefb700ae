"""The supervisor: starts services in order, restarts them, reports, and stops them as trees."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from types import TracebackType

from voice_sidecar.errors import UserFacingError
from voice_sidecar.log import logger
from voice_sidecar.supervisor.clock import Clock, SystemClock
from voice_sidecar.supervisor.events import ServiceEvent, ServiceState, ServiceStatus
from voice_sidecar.supervisor.process import ProcessSpawner
from voice_sidecar.supervisor.runner import ServiceRunner
from voice_sidecar.supervisor.spawner import Spawner
from voice_sidecar.supervisor.spec import ServiceSpec

log = logger.getChild("supervisor")


class SupervisorStartError(UserFacingError):
    """A service went FATAL (or the supervisor was stopped) before every service was ready.

    ``event`` is the service's FATAL or STOPPED event; nothing is left running.
    """

    exit_code = 7  # as EXIT_FATAL in stack.py: a service went fatal

    def __init__(self, event: ServiceEvent) -> None:
        detail = event.message or event.state.value
        super().__init__(f"{event.service} did not start: {detail}")
        self.event = event


class Supervisor:
    """Owns the services' process trees.

    ``start()`` starts the services in order, each once the previous one is ready;
    afterwards each service restarts on its own (exit, failed health checks) until
    its restart policy gives up, which is reported as a FATAL event (``on_event``
    and ``wait_fatal()``); the other services keep running, and what to do then is
    the caller's choice. ``stop()`` stops the services in reverse order.
    ``on_event`` is called on the event loop's thread and must not block.
    """

    def __init__(
        self,
        specs: Sequence[ServiceSpec],
        *,
        on_event: Callable[[ServiceEvent], None],
        clock: Clock | None = None,
        spawner: Spawner | None = None,
    ) -> None:
        names = [spec.name for spec in specs]
        if len(set(names)) != len(names):
            raise ValueError(f"service names must be unique: {names}")
        self._on_event = on_event
        clock = clock if clock is not None else SystemClock()
        spawner = spawner if spawner is not None else ProcessSpawner()
        self._runners = [
            ServiceRunner(spec, clock=clock, spawner=spawner, emit=self._emit) for spec in specs
        ]
        self._tasks: dict[str, asyncio.Task[ServiceEvent]] = {}
        self._fatal: ServiceEvent | None = None
        self._fatal_seen = asyncio.Event()
        self._started = False
        self._stopping: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Supervisor:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    async def start(self) -> None:
        """Start every service in order, each waiting until it is ready.

        A service that misses its readiness deadline is restarted by its policy;
        if it goes FATAL first, everything started so far is stopped and
        ``SupervisorStartError`` is raised.
        """
        if self._started:
            raise RuntimeError("Supervisor.start() was already called")
        self._started = True
        for runner in self._runners:
            name = runner.spec.name
            if self._stopping is None:
                self._tasks[name] = asyncio.create_task(runner.run(), name=f"supervise {name}")
                await runner.settled.wait()
            if self._stopping is not None:
                failed = ServiceEvent(
                    name,
                    ServiceState.STOPPED,
                    runner.status().restarts,
                    None,
                    "the supervisor was stopped before the service was ready",
                )
            elif runner.state is ServiceState.READY:
                continue
            else:
                failed = runner.event(runner.status().last_error)
            await self.stop()
            raise SupervisorStartError(failed)

    async def wait_fatal(self) -> ServiceEvent:
        """Resolve with the first FATAL event (immediately if one was already reported)."""
        await self._fatal_seen.wait()
        if self._fatal is None:  # pragma: no cover - set together with the event
            raise RuntimeError("fatal event missing")
        return self._fatal

    async def stop(self) -> None:
        """Stop every tree (polite stop, ``stop_grace_s``, then kill); idempotent.

        Concurrent and repeated calls wait for the same shutdown; cancelling a
        caller does not interrupt it.
        """
        if self._stopping is None:
            self._stopping = asyncio.create_task(self._stop_all(), name="supervisor stop")
        await asyncio.shield(self._stopping)

    def status(self) -> dict[str, ServiceStatus]:
        return {runner.spec.name: runner.status() for runner in self._runners}

    async def _stop_all(self) -> None:
        for runner in reversed(self._runners):
            task = self._tasks.get(runner.spec.name)
            if task is not None:
                task.cancel()
                await asyncio.wait([task])
                if not task.cancelled() and task.exception() is not None:
                    log.error("%s: stopping failed", runner.spec.name, exc_info=task.exception())
            if task is not None or runner.state is not ServiceState.STOPPED:
                runner.mark_stopped()

    def _emit(self, event: ServiceEvent) -> None:
        if event.state is ServiceState.FATAL and self._fatal is None:
            self._fatal = event
            self._fatal_seen.set()
        try:
            self._on_event(event)
        except Exception:
            log.exception("on_event failed for %s", event)
