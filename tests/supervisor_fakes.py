"""A virtual clock and a scripted spawner, shaped like the real ones, for the state-machine tests.

Time only moves when every task is waiting on the clock: ``FakeClock.run``
jumps to the next timer, so an hour of restarts and probes runs in milliseconds
and every timestamp is exact.
"""

from __future__ import annotations

import asyncio
import errno
import heapq
import itertools
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from voice_sidecar.supervisor.spec import ServiceSpec

T = TypeVar("T")


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self._timers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        wake: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._timers, (self.now + max(seconds, 0.0), next(self._order), wake))
        await wake

    async def _settle(self) -> None:
        """Let every runnable task run until all of them wait (on the clock or a future)."""
        loop = asyncio.get_running_loop()
        for _ in range(10_000):
            await asyncio.sleep(0)
            if not getattr(loop, "_ready", ()):
                return
        raise RuntimeError("the event loop never became idle")

    async def _advance(self, until: float, done: Callable[[], bool]) -> None:
        while True:
            await self._settle()
            if done():
                return
            while self._timers and self._timers[0][2].done():  # cancelled sleeps
                heapq.heappop(self._timers)
            if not self._timers or self._timers[0][0] > until:
                self.now = max(self.now, until)
                return
            when, _, wake = heapq.heappop(self._timers)
            self.now = when
            wake.set_result(None)

    async def run(self, work: Awaitable[T], *, limit_s: float = 10_000.0) -> T:
        """Drive virtual time until ``work`` finishes (at most ``limit_s`` virtual seconds)."""
        task = asyncio.ensure_future(work)
        await self._advance(self.now + limit_s, task.done)
        if not task.done():
            task.cancel()
            raise TimeoutError(f"not finished after {limit_s} virtual seconds")
        return task.result()

    async def run_for(self, seconds: float) -> None:
        await self._advance(self.now + seconds, lambda: False)


@dataclass(frozen=True)
class Script:
    """How one spawned child behaves; times are virtual seconds after its spawn."""

    ready_at: float | None = 0.0  # None: never ready
    exit_at: float | None = None  # exits by itself
    exit_code: int = 1
    unhealthy: tuple[float, float] | None = None  # liveness fails in [start, end)
    silent_from: float | None = None  # the liveness probe stops answering
    ignores_term: bool = False
    term_takes: float = 0.1
    spawn_error: bool = False
    spawn_errno: int = errno.ENOENT


@dataclass
class FakeChild:
    pid: int
    script: Script
    clock: FakeClock
    spawned_at: float
    returncode: int | None = None
    calls: list[str] = field(default_factory=list)
    _exited: asyncio.Event = field(default_factory=asyncio.Event)
    _timers: list[asyncio.Task[None]] = field(default_factory=list)

    def age(self) -> float:
        return self.clock.now - self.spawned_at

    def exit(self, code: int) -> None:
        if self.returncode is None:
            self.returncode = code
            self._exited.set()

    def after(self, delay: float, code: int) -> None:
        async def later() -> None:
            await self.clock.sleep(delay)
            self.exit(code)

        self._timers.append(asyncio.ensure_future(later()))

    async def wait(self) -> int:
        await self._exited.wait()
        assert self.returncode is not None
        return self.returncode

    def request_stop(self) -> None:
        self.calls.append("request_stop")
        if not self.script.ignores_term:
            self.after(self.script.term_takes, -15)

    async def kill_tree(self) -> None:
        self.calls.append("kill_tree")
        self.exit(-9)

    def output_tail(self) -> list[str]:
        return [f"pid {self.pid} says goodbye"]

    async def release(self) -> None:
        self.calls.append("release")
        for timer in self._timers:
            timer.cancel()


class FakeSpawner:
    """Spawns ``scripts`` in order (the last one repeats)."""

    def __init__(self, clock: FakeClock, scripts: list[Script]) -> None:
        self.clock = clock
        self.scripts = scripts
        self.children: list[FakeChild] = []
        self.spawns = 0
        self._pids = itertools.count(1000)

    @property
    def current(self) -> FakeChild | None:
        return self.children[-1] if self.children else None

    async def spawn(self, spec: ServiceSpec) -> FakeChild:
        script = self.scripts[min(self.spawns, len(self.scripts) - 1)]
        self.spawns += 1
        if script.spawn_error:
            raise OSError(script.spawn_errno, os.strerror(script.spawn_errno))
        child = FakeChild(next(self._pids), script, self.clock, self.clock.now)
        self.children.append(child)
        if script.exit_at is not None:
            child.after(script.exit_at, script.exit_code)
        return child

    async def ready_probe(self) -> bool:
        child = self.current
        if child is None or child.returncode is not None or child.script.ready_at is None:
            return False
        return child.age() >= child.script.ready_at

    async def live_probe(self) -> bool:
        child = self.current
        if child is None or child.returncode is not None:
            return False
        silent_from = child.script.silent_from
        if silent_from is not None and child.age() >= silent_from:
            await asyncio.Event().wait()  # never answers; the supervisor's timeout decides
        window = child.script.unhealthy
        return window is None or not (window[0] <= child.age() < window[1])

    async def close(self) -> None:
        for child in self.children:
            for timer in child._timers:
                timer.cancel()
