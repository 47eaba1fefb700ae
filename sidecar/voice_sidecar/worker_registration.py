"""Whether the agent worker is registered with the livekit-server now running.

livekit-server drops a room's agent dispatch when no worker is registered at the
moment the room is created: the user would sit in a room no agent ever joins.
After livekit-server restarts, the worker process stays healthy but needs a few
seconds to register again. So the worker writes a marker file each time it
registers (``agent --registration-file``), and ``up`` hands out a session only
when that marker is newer than the server's start.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path


def write_marker(path: Path, worker_id: str) -> None:
    """Atomically: a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(json.dumps({"worker_id": worker_id, "registered_at": time.time()}))
    tmp.replace(path)


def registered_at(path: Path) -> float | None:
    try:
        value = json.loads(path.read_text(encoding="utf-8")).get("registered_at")
    except (OSError, ValueError, AttributeError):
        return None
    return float(value) if isinstance(value, int | float) else None


def registered_with_current_server(marker_time: float | None, server_started_at: float) -> bool:
    """The worker registered after this server process started (a pure decision)."""
    return marker_time is not None and marker_time >= server_started_at
