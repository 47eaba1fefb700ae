"""Helpers for tests around livekit-server: the fake binary and the real one when present."""

from __future__ import annotations

import os
import random
import shutil
import socket
import sys
from pathlib import Path

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


_random = random.Random()


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 65535


def _bindable(port: int) -> bool:
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        with socket.socket(socket.AF_INET, kind) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                return False
    return True


def free_ports(count: int) -> list[int]:
    """Free TCP+UDP ports below the ephemeral range, as the real defaults (7880-7882, 8081)
    are: a port the OS hands out for outgoing connections can be taken by one at any time
    between this choice and the server's bind (seen: the agent's health port, in CI)."""
    low, _ = _ephemeral_range()
    chosen: list[int] = []
    while len(chosen) < count:
        port = _random.randrange(10_000, min(low, 32_768) - 1)
        if port not in chosen and _bindable(port):
            chosen.append(port)
    return chosen
