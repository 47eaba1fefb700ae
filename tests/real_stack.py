"""A real ``voice-sidecar up`` around a real livekit-server, shared by the tests of a module.

Starting the stack costs ~10 s (livekit-server, then the agent worker loading and warming
the models), so a module starts it once (``RealStack.start``) and its tests open rooms in
it, one at a time, as the desktop app does.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from voice_sidecar.bench.room_participant import RoomParticipant, SessionGrant, request_session
from voice_sidecar.testing.llm_server import FakeLlmServer, LlmBehaviour

from .livekit_fixtures import real_livekit_server
from .up_support import UpProcess, home_env, start_up, up_env


@dataclass
class RealStack:
    up: UpProcess
    llm: FakeLlmServer
    ready: dict[str, Any]
    log_file: Path

    @classmethod
    @contextlib.contextmanager
    def running(cls, root: Path, **extra_env: str) -> Iterator[RealStack]:
        binary = real_livekit_server()
        assert binary is not None, "the livekit_server marker skips tests without a binary"
        llm = FakeLlmServer(LlmBehaviour()).start()
        env = up_env(
            root,
            LIVEKIT_SERVER_BIN=str(binary),
            VOICE_SIDECAR_LLM_BASE_URL=llm.base_url,
            **home_env(root),
            **extra_env,
        )
        up = start_up(env)
        try:
            ready = up.next_event("ready", 180)
            yield cls(up, llm, ready, root / "log" / "voice-sidecar.log")
        finally:
            if up.proc.poll() is None and up.proc.stdin:
                up.proc.stdin.close()
            try:
                up.proc.wait(60)
            except Exception:  # noqa: BLE001 - never leave the stack running
                up.proc.kill()
                up.proc.wait(10)
            llm.stop()

    # -- rooms --------------------------------------------------------------------------------

    async def grant(self, request: dict[str, Any] | None = None) -> SessionGrant:
        return await request_session(
            self.ready["control_url"], self.ready["token"], request or {"version": 1}
        )

    async def join(self, request: dict[str, Any] | None = None) -> RoomParticipant:
        participant = RoomParticipant()
        await participant.connect(await self.grant(request))
        await participant.wait_for_agent_audio(60)
        return participant

    # -- processes ----------------------------------------------------------------------------

    def service_pid(self, name: str) -> int:
        """The pid of a service as the latest ``service`` event announced it."""
        self.drain_events()
        for event in reversed(self.up.events):
            if event["event"] == "service" and event["service"] == name and event.get("pid"):
                return int(event["pid"])
        raise AssertionError(f"no pid for {name} in {self.up.events}")

    def drain_events(self) -> None:
        with contextlib.suppress(AssertionError):
            self.up.next_event("__none__", 0.05)

    def wait_service_state(self, name: str, state: str, timeout: float, *, after: int) -> None:
        """Until a ``service`` event for ``name`` in ``state`` arrives after event ``after``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.drain_events()
            for event in self.up.events[after:]:
                if (
                    event["event"] == "service"
                    and event["service"] == name
                    and event["state"] == state
                ):
                    return
            time.sleep(0.05)
        raise AssertionError(f"{name} never {state}: {self.up.events[after:]}")

    def kill(self, name: str) -> int:
        pid = self.service_pid(name)
        os.kill(pid, signal.SIGKILL)
        return pid

    def log_text(self) -> str:
        return self.log_file.read_text(encoding="utf-8", errors="replace")


def tree_figures(root_pid: int) -> dict[str, int]:
    """Threads, open descriptors, processes and resident memory of a process and its tree."""
    root = psutil.Process(root_pid)
    processes = [root, *root.children(recursive=True)]
    figures = {"processes": 0, "threads": 0, "fds": 0, "rss_bytes": 0}
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            figures["threads"] += process.num_threads()
            figures["fds"] += process.num_fds()
            figures["rss_bytes"] += process.memory_info().rss
            figures["processes"] += 1
    return figures


async def until(predicate: Any, within_s: float, *, step: float = 0.05) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(step)
    return bool(predicate())
