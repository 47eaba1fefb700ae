"""Running ``voice-sidecar up`` as the desktop app does, for tests: events read from stdout."""

from __future__ import annotations

import socket
from pathlib import Path

from voice_sidecar.bench.room_stack import stack_env
from voice_sidecar.testing.up_process import PYTHON_SIDECAR, UpProcess, pump_lines, start_up

__all__ = [
    "PYTHON_SIDECAR",
    "UpProcess",
    "home_env",
    "open_connections",
    "pump_lines",
    "start_up",
    "up_env",
]


def home_env(root: Path) -> dict[str, str]:
    """HOME and the XDG folders under ``root``: a child process finds nothing of the user's."""
    return {
        "HOME": str(root / "home"),
        "XDG_CACHE_HOME": str(root / "cache"),
        "XDG_CONFIG_HOME": str(root / "config"),
        "XDG_DATA_HOME": str(root / "data"),
        "XDG_STATE_HOME": str(root / "state"),
    }


def up_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """A stack of its own (``stack_env``) with tiny.en and an LLM that refuses connections."""
    return {
        **stack_env(tmp_path),
        "VOICE_SIDECAR_STT_MODEL": "tiny.en",
        "VOICE_SIDECAR_LLM_BASE_URL": "http://127.0.0.1:9/v1",
        **extra,
    }


def open_connections(port: int, count: int) -> list[socket.socket]:
    """``count`` connections that complete (connects that only sit in the kernel's backlog
    never reach the server's descriptor table)."""
    from concurrent.futures import ThreadPoolExecutor

    def one(_: int) -> socket.socket | None:
        try:
            return socket.create_connection(("127.0.0.1", port), timeout=5)
        except OSError:
            return None

    with ThreadPoolExecutor(64) as pool:
        return [sock for sock in pool.map(one, range(count)) if sock is not None]
