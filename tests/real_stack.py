"""A real ``voice-sidecar up`` around a real livekit-server, shared by the tests of a module.

Starting the stack costs ~10 s (livekit-server, then the agent worker loading and warming
the models), so a module starts it once (``RealStack.running``) and its tests open rooms in
it, one at a time, as the desktop app does.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from voice_sidecar.bench.process_tree import tree_figures
from voice_sidecar.bench.room_stack import RoomStack

from .livekit_fixtures import real_livekit_server
from .up_support import home_env, up_env

__all__ = ["RealStack", "tree_figures", "until"]


class RealStack(RoomStack):
    """The package's stack (``bench --room`` starts the same one), in a home of its own, with
    what tests do to it: kill a service, wait for its restart, read its log."""

    @classmethod
    @contextlib.contextmanager
    def running(cls, root: Path, **extra_env: str) -> Iterator[RealStack]:
        binary = real_livekit_server()
        assert binary is not None, "the livekit_server marker skips tests without a binary"
        env = up_env(root, LIVEKIT_SERVER_BIN=str(binary), **home_env(root), **extra_env)
        with cls.start(env, root / "log" / "voice-sidecar.log") as stack:
            assert isinstance(stack, RealStack)
            yield stack

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


async def until(predicate: Any, within_s: float, *, step: float = 0.05) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(step)
    return bool(predicate())
