"""Helpers for tests around livekit-server: the fake binary and the real one when present."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from voice_sidecar.testing.up_process import free_ports

__all__ = ["FAKE_SERVER", "free_ports", "real_livekit_server", "redis_server", "write_fake_binary"]

FAKE_SERVER = Path(__file__).parent / "fakes" / "fake_livekit_server.py"


def write_fake_binary(folder: Path) -> Path:
    """An executable named livekit-server that runs the fake (exec keeps one pid)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "livekit-server"
    path.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{FAKE_SERVER}" "$@"\n', encoding="utf-8")
    path.chmod(0o755)
    return path


def real_livekit_server() -> Path | None:
    """A real livekit-server if this machine has one (LIVEKIT_SERVER_BIN or PATH)."""
    given = os.environ.get("LIVEKIT_SERVER_BIN")
    if given and Path(given).is_file():
        return Path(given)
    found = shutil.which("livekit-server")
    return Path(found) if found else None


def redis_server() -> Path | None:
    """Debian's redis-server (REDIS_SERVER_BIN or PATH), for a multi-node livekit-server."""
    given = os.environ.get("REDIS_SERVER_BIN")
    if given and Path(given).is_file():
        return Path(given)
    found = shutil.which("redis-server")
    return Path(found) if found else None
