"""The seam between the supervisor's decisions and the operating system's processes."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Protocol

from voice_sidecar.supervisor.spec import ServiceSpec


class ChildProcess(Protocol):
    """One spawned service and everything it started."""

    @property
    def pid(self) -> int: ...

    @property
    def returncode(self) -> int | None:
        """``None`` while the direct child runs."""
        ...

    async def wait(self) -> int:
        """Wait for the direct child to exit; may be awaited (and cancelled) repeatedly."""
        ...

    def request_stop(self) -> None:
        """Ask the tree to stop (SIGTERM to the group, CTRL_BREAK, end of stdin). Never blocks."""
        ...

    async def kill_tree(self) -> None:
        """Kill the child and every descendant, including those that left its group."""
        ...

    async def release(self) -> None:
        """Free what the child held in this process (pipes, Job Object handle)."""
        ...

    def output_tail(self) -> list[str]:
        """The child's last lines of output (at most ``OUTPUT_TAIL_LINES``), for a report of
        why it failed; not redacted here."""
        ...


class Spawner(Protocol):
    async def spawn(self, spec: ServiceSpec) -> ChildProcess:
        """Start ``spec``; ``OSError`` when the program cannot be started at all."""
        ...


OUTPUT_TAIL_LINES = 20

KEEPER_COMMAND = "_keeper"
"""The frozen executable's hidden command that runs ``keeper.main`` (``cli.run``)."""


def keeper_command() -> list[str] | None:
    """How to start a keeper (``keeper.py``) in front of a service's argv; None where there is
    none (the subreaper and the parent-death signal are Linux's)."""
    if sys.platform != "linux":
        return None
    if getattr(sys, "frozen", False):
        return [sys.executable, KEEPER_COMMAND]
    # the file itself, isolated (-I): importing the supervisor package first would cost a
    # third of a second and 20 MB per service; the keeper needs the standard library and psutil
    return [sys.executable, "-I", str(Path(__file__).with_name("keeper.py"))]
