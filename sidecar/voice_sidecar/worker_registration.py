"""Whether the agent worker is registered with the livekit-server now running.

livekit-server drops a room's agent dispatch when no worker is registered at the
moment the room is created: the user would sit in a room no agent ever joins.
After livekit-server restarts, the worker process stays healthy but needs a few
seconds to register again. So the worker writes a marker file each time it
registers (``agent --registration-file``), and ``up`` hands out a session only
when that marker is newer than the server's start.

The same marker carries the worker's open conversations and its capacity
(``worker.max_conversations``), rewritten as each conversation opens and closes: a
worker that is full tells livekit-server so (its load function), and livekit-server
then drops the dispatch, so ``up`` answers "the assistant is busy" instead of handing
out a room no agent would join.
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def _write(path: Path, content: dict[str, Any]) -> None:
    """Atomically: a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
    tmp.write_text(json.dumps(content))
    tmp.replace(path)


class RegistrationMarker:
    """The marker of one worker process: its registration, then its conversations."""

    def __init__(self, path: Path, capacity: int) -> None:
        self._path = path
        self._capacity = capacity
        self._content: dict[str, Any] | None = None
        self._open = 0
        self._lock = threading.Lock()

    def registered(self, worker_id: str) -> None:
        with self._lock:
            self._content = {"worker_id": worker_id, "registered_at": time.time()}
            self._flush()

    @property
    def open_conversations(self) -> int:
        with self._lock:
            return self._open

    def conversations(self, open_now: int) -> None:
        with self._lock:
            self._open = open_now
            if self._content is not None:
                self._flush()

    def _flush(self) -> None:
        assert self._content is not None
        _write(
            self._path,
            self._content | {"open_conversations": self._open, "capacity": self._capacity},
        )


@dataclass(frozen=True)
class WorkerLoad:
    open_conversations: int
    capacity: int
    """``worker.max_conversations``; 0: no limit."""

    @property
    def full(self) -> bool:
        return self.capacity > 0 and self.open_conversations >= self.capacity


def worker_load(path: Path) -> WorkerLoad | None:
    """What the marker says about the worker's conversations (None: no marker, or an old one
    without them)."""
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
        return WorkerLoad(int(content["open_conversations"]), int(content["capacity"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def registered_at(path: Path) -> float | None:
    try:
        value = json.loads(path.read_text(encoding="utf-8")).get("registered_at")
    except (OSError, ValueError, AttributeError):
        return None
    return float(value) if isinstance(value, int | float) else None


def registered_with_current_server(marker_time: float | None, server_started_at: float) -> bool:
    """The worker registered after this server process started (a pure decision)."""
    return marker_time is not None and marker_time >= server_started_at
