"""Waiting for processes to be gone (zombies count as gone: only their parent can reap them)."""

from __future__ import annotations

import time

import psutil


def _running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def survivors(pids: set[int], timeout: float) -> set[int]:
    """The pids still running after up to ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    alive = {pid for pid in pids if _running(pid)}
    while alive and time.monotonic() < deadline:
        time.sleep(0.1)
        alive = {pid for pid in alive if _running(pid)}
    return alive
