"""``voice-sidecar up`` run by a program, as the desktop app runs it: events read from stdout.

Shared by ``bench --room`` and the tests that start a real stack.
"""

from __future__ import annotations

import json
import queue
import random
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PYTHON_SIDECAR = [sys.executable, "-m", "voice_sidecar"]

_random = random.Random()  # noqa: S311 - spreading test ports, not a secret


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

    def stop(self, timeout_s: float = 60.0) -> None:
        """The polite stop the app uses (stdin closed), then a kill if it does not end."""
        if self.proc.poll() is None and self.proc.stdin:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)


def pump_lines(stream: Any, lines: queue.Queue[str]) -> None:
    for line in stream:
        lines.put(line)


def start_up(
    env: dict[str, str], *args: str, pump: bool = True, sidecar: list[str] | None = None
) -> UpProcess:
    """``up`` through ``sidecar`` (default: this program again: this Python's package, or
    the frozen executable itself, as ``stack.sidecar_argv`` starts the agent)."""
    default = [sys.executable] if getattr(sys, "frozen", False) else PYTHON_SIDECAR
    proc = subprocess.Popen(
        [*(sidecar or default), "up", *args],
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
