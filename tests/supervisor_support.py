"""Helpers for the supervisor tests that run real processes."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import psutil

from voice_sidecar.supervisor import Probe, RestartPolicy, ServiceEvent, ServiceSpec, ServiceState
from voice_sidecar.supervisor.probes import http_status

CHILDREN = Path(__file__).parent / "children"
SERVICE = CHILDREN / "service.py"

FAST_POLICY = RestartPolicy(
    backoff_base_s=0.05,
    backoff_factor=2.0,
    backoff_max_s=0.2,
    crash_window_s=30.0,
    max_restarts_in_window=3,
    max_failed_starts=3,
)


def read_state(path: Path) -> dict[str, Any]:
    state: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return state


def health_probe(state: Path) -> Probe:
    """GET / on the port the current child wrote into its state file."""

    async def probe() -> bool:
        try:
            port = read_state(state)["port"]
        except (OSError, ValueError, KeyError):
            return False
        return await http_status("127.0.0.1", port, timeout_s=1.0) == 200

    return probe


def service_spec(name: str, folder: Path, *args: str, **changes: Any) -> ServiceSpec:
    state = folder / f"{name}.json"
    settings: dict[str, Any] = {
        "ready_probe": health_probe(state),
        "live_probe": health_probe(state),
        "ready_timeout_s": 10.0,
        "ready_interval_s": 0.05,
        "probe_interval_s": 0.1,
        "probe_timeout_s": 0.3,
        "failures_before_restart": 2,
        "stop_grace_s": 1.0,
        "restart": FAST_POLICY,
    }
    settings.update(changes)
    return ServiceSpec(
        name=name,
        argv=[sys.executable, str(SERVICE), "--state", str(state), *args],
        env=dict(os.environ),
        **settings,
    )


class Recorder:
    """Collects events and lets a test wait for one, with a deadline."""

    def __init__(self) -> None:
        self.events: list[ServiceEvent] = []
        self._changed = asyncio.Event()

    def __call__(self, event: ServiceEvent) -> None:
        self.events.append(event)
        self._changed.set()

    def states(self) -> list[str]:
        return [e.state.value for e in self.events]

    async def wait_for(
        self, state: ServiceState, *, count: int = 1, timeout_s: float = 10.0
    ) -> ServiceEvent:
        async def seen() -> ServiceEvent:
            while True:
                matches = [e for e in self.events if e.state is state]
                if len(matches) >= count:
                    return matches[count - 1]
                self._changed.clear()
                await self._changed.wait()

        return await asyncio.wait_for(seen(), timeout_s)


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def wait_gone(pids: Iterable[int], timeout_s: float) -> list[int]:
    """The pids still alive after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    pending = list(pids)
    while pending and time.monotonic() < deadline:
        pending = [pid for pid in pending if not gone(pid)]
        time.sleep(0.02)
    return [pid for pid in pending if not gone(pid)]


class Reaper:
    """Remembers processes a test saw and kills any that survive it (the test still fails)."""

    def __init__(self) -> None:
        self.processes: dict[int, psutil.Process] = {}

    def track(self, *pids: int | None) -> None:
        for pid in pids:
            if pid is not None and pid not in self.processes:
                with contextlib.suppress(psutil.NoSuchProcess):
                    self.processes[pid] = psutil.Process(pid)  # remembers its start time

    def track_state(self, path: Path) -> dict[str, Any]:
        state = read_state(path)
        self.track(state["pid"], *state["grandchildren"])
        return state

    def kill_all(self) -> None:
        for process in self.processes.values():
            with contextlib.suppress(psutil.Error):
                process.kill()  # refuses a pid reused by another process


async def until(condition: Callable[[], bool], timeout_s: float = 5.0) -> None:
    async def poll() -> None:
        while not condition():
            await asyncio.sleep(0.02)

    await asyncio.wait_for(poll(), timeout_s)
