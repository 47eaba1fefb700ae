"""Running ``voice-sidecar up`` as the desktop app does, for tests: events read from stdout."""

from __future__ import annotations

import json
import os
import queue
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .livekit_fixtures import free_ports

PYTHON_SIDECAR = [sys.executable, "-m", "voice_sidecar"]


@dataclass
class UpProcess:
    proc: subprocess.Popen[str]
    env: dict[str, str]
    events: list[dict[str, Any]] = field(default_factory=list)
    lines: queue.Queue[str] = field(default_factory=queue.Queue)
    stderr: queue.Queue[str] = field(default_factory=queue.Queue)

    def next_event(self, name: str, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        event: dict[str, Any]
        for event in self.events:
            if event["event"] == name:
                return event
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=max(0.05, deadline - time.monotonic()))
            except queue.Empty:
                break
            event = json.loads(line)
            assert event["v"] == 1
            self.events.append(event)
            if event["event"] == name:
                return event
            if event["event"] == "stopped":
                break
        raise AssertionError(f"no {name!r} event within {timeout}s; got {self.events}")

    def child_pids(self) -> set[int]:
        return {e["pid"] for e in self.events if e["event"] == "service" and e.get("pid")}


def pump_lines(stream: Any, lines: queue.Queue[str]) -> None:
    for line in stream:
        lines.put(line)


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
    http, tcp, udp, health = free_ports(4)
    return {
        **os.environ,
        "VOICE_SIDECAR_PORTS_LIVEKIT_HTTP": str(http),
        "VOICE_SIDECAR_PORTS_LIVEKIT_RTC_TCP": str(tcp),
        "VOICE_SIDECAR_PORTS_LIVEKIT_RTC_UDP": str(udp),
        "VOICE_SIDECAR_PORTS_AGENT_HEALTH": str(health),
        "VOICE_SIDECAR_STT_MODEL": "tiny.en",
        "VOICE_SIDECAR_LLM_BASE_URL": "http://127.0.0.1:9/v1",
        "VOICE_SIDECAR_LOGGING_FILE": str(tmp_path / "log" / "voice-sidecar.log"),
        **extra,
    }


def start_up(
    env: dict[str, str], *args: str, pump: bool = True, sidecar: list[str] | None = None
) -> UpProcess:
    """``up`` through ``sidecar`` (default: this Python's package; a frozen build's path)."""
    proc = subprocess.Popen(
        [*(sidecar or PYTHON_SIDECAR), "up", *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    up = UpProcess(proc, env)
    assert proc.stdout is not None
    if pump:  # otherwise the caller reads stdout itself (communicate)
        threading.Thread(target=pump_lines, args=(proc.stdout, up.lines), daemon=True).start()
        # stderr too, as the desktop app does: a pipe nobody reads fills up (64 KiB), and then
        # `up` blocks on its next log line and its control API stops answering
        threading.Thread(target=pump_lines, args=(proc.stderr, up.stderr), daemon=True).start()
    return up


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
