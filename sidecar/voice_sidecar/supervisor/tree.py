"""Find and kill a child's whole process tree with psutil.

A descendant can leave the tree (its parent exits and it is re-parented to init)
and leave the process group (``setsid``). Each child therefore carries a
per-spawn marker in its environment, which descendants inherit: the tree is the
child, its current descendants, the members of its process group (POSIX) and
every process of ours started after it that carries the marker. Processes are
signalled through ``psutil.Process`` objects, which refuse to signal a pid that
was reused by an unrelated process.
"""

from __future__ import annotations

import os
import sys
import time

import psutil

from voice_sidecar.log import logger

MARKER_VARIABLE = "VOICE_SIDECAR_SERVICE_ID"

log = logger.getChild("supervisor")

_CREATE_TIME_SLACK_S = 1.0


def _carries_marker(process: psutil.Process, marker: str) -> bool:
    try:
        environ: dict[str, str] = process.environ()
    except (psutil.Error, OSError):
        return False
    return environ.get(MARKER_VARIABLE) == marker


def _in_group(pid: int, pgid: int) -> bool:
    if sys.platform == "win32":
        return False
    try:
        return os.getpgid(pid) == pgid
    except OSError:
        return False


def find_tree(
    leader: psutil.Process | None, marker: str, *, started: float
) -> list[psutil.Process]:
    """The leader (if it still runs) and every process that belongs to its tree."""
    found: dict[int, psutil.Process] = {}
    if leader is not None:
        try:
            if leader.is_running():
                found[leader.pid] = leader
                for child in leader.children(recursive=True):
                    found[child.pid] = child
        except psutil.Error:
            pass
    group = leader.pid if leader is not None else None
    me = os.getpid()
    for process in psutil.process_iter(["create_time"]):
        if process.pid in found or process.pid == me:
            continue
        created = process.info.get("create_time")
        if not isinstance(created, float) or created < started - _CREATE_TIME_SLACK_S:
            continue
        in_group = group is not None and _in_group(process.pid, group)
        if in_group or _carries_marker(process, marker):
            found[process.pid] = process
    return list(found.values())


def _gone(process: psutil.Process) -> bool:
    try:
        return not process.is_running() or process.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True
    except psutil.Error:
        return False


def kill_tree(
    leader: psutil.Process | None, marker: str, *, started: float, timeout_s: float = 3.0
) -> int:
    """SIGKILL (TerminateProcess) the whole tree; wait until it is gone. Returns how many
    processes were signalled. Blocking: run it in a thread."""
    deadline = time.monotonic() + timeout_s
    signalled: dict[int, psutil.Process] = {}
    # a second pass catches processes forked while the first pass was killing
    for _ in range(3):
        tree = [p for p in find_tree(leader, marker, started=started) if not _gone(p)]
        if not tree:
            break
        for process in tree:
            try:
                process.kill()
            except psutil.NoSuchProcess:
                continue
            except psutil.Error as error:
                log.warning("could not kill process %d: %s", process.pid, error)
            signalled[process.pid] = process
        # the leader is our child: asyncio reaps it, so never wait() on it here
        while time.monotonic() < deadline and not all(_gone(p) for p in tree):
            time.sleep(0.02)
    survivors = [p.pid for p in signalled.values() if not _gone(p)]
    if survivors:
        log.warning("processes still alive after kill: %s", survivors)
    return len(signalled)
