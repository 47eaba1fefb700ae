"""A real ``voice-sidecar up`` (livekit-server, the agent worker, the control API) with a
local LLM stand-in, started by a program: ``bench --room`` and the real-stack tests.

Starting it costs ~10 s (livekit-server, then the worker loading and warming the models),
so a caller starts it once and opens rooms in it, one at a time, as the desktop app does.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from voice_sidecar.testing.llm_server import FakeLlmServer, LlmBehaviour
from voice_sidecar.testing.up_process import UpProcess, free_ports, start_up

from .process_tree import TreeFigures, tree
from .room_participant import RoomParticipant, SessionGrant, request_session

NOT_READY_RETRY_S = 20.0
"""How long a session refused as ``not_ready`` is asked for again (the worker registering)."""
READY_TIMEOUT_S = 180.0
"""A first run may download and warm the models before the worker registers."""


def stack_env(root: Path, base: Mapping[str, str] | None = None, **extra: str) -> dict[str, str]:
    """``base`` (default: this process's environment) with ports of its own, so it runs beside
    a stack already on the defaults, and the log in ``root``."""
    http, tcp, udp, health = free_ports(4)
    return {
        **(os.environ if base is None else base),
        "VOICE_SIDECAR_PORTS_LIVEKIT_HTTP": str(http),
        "VOICE_SIDECAR_PORTS_LIVEKIT_RTC_TCP": str(tcp),
        "VOICE_SIDECAR_PORTS_LIVEKIT_RTC_UDP": str(udp),
        "VOICE_SIDECAR_PORTS_AGENT_HEALTH": str(health),
        "VOICE_SIDECAR_LOGGING_FILE": str(root / "log" / "voice-sidecar.log"),
        **extra,
    }


@dataclass
class RoomStack:
    up: UpProcess
    llm: FakeLlmServer
    ready: dict[str, Any]
    log_file: Path

    @classmethod
    @contextlib.contextmanager
    def start(
        cls, env: dict[str, str], log_file: Path, behaviour: LlmBehaviour | None = None
    ) -> Iterator[RoomStack]:
        """``up`` with ``env`` and its LLM at a stand-in on 127.0.0.1; stopped on exit as the
        app stops it (stdin closed), killed if it does not stop."""
        llm = FakeLlmServer(behaviour or LlmBehaviour()).start()
        try:
            up = start_up({**env, "VOICE_SIDECAR_LLM_BASE_URL": llm.base_url})
            try:
                ready = up.next_event("ready", READY_TIMEOUT_S)
                yield cls(up, llm, ready, log_file)
            finally:
                up.stop()
        finally:
            llm.stop()

    # -- rooms --------------------------------------------------------------------------------

    async def grant(self, request: dict[str, Any] | None = None) -> SessionGrant:
        """``POST /session``; a ``not_ready`` answer is asked again for a while: ``up`` is
        ready once its services are, and the worker registers with livekit-server after
        (seen: over 1 s later on a loaded machine, and the first session got 503)."""
        import httpx2 as httpx

        deadline = time.monotonic() + NOT_READY_RETRY_S
        while True:
            try:
                return await request_session(
                    self.ready["control_url"], self.ready["token"], request or {"version": 1}
                )
            except httpx.HTTPStatusError as exc:
                not_ready = exc.response.status_code == 503 and "not_ready" in exc.response.text
                if not not_ready or time.monotonic() > deadline:
                    raise
            await asyncio.sleep(0.25)

    async def join(
        self, request: dict[str, Any] | None = None, *, noise_dbfs: float | None = None
    ) -> RoomParticipant:
        participant = RoomParticipant(noise_dbfs=noise_dbfs)
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

    def tree(self) -> TreeFigures:
        """The whole tree of ``up``: supervisor, keepers, livekit-server, the agent worker."""
        return tree(self.up.proc.pid)
