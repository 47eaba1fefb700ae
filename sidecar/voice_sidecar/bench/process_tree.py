"""Figures of a process and every process below it: what a running ``up`` costs the machine.

Memory is summed as PSS (``/proc/<pid>/smaps_rollup``) where the kernel gives it: pages
shared between the processes of the tree (the Python runtime, libraries mapped by both
the supervisor and the worker) count once in the sum, split between their users. RSS,
summed, counts them once per process; it is kept beside PSS, and is all there is on
macOS and Windows.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path

import psutil


@dataclass
class ProcessFigures:
    pid: int
    name: str
    rss_bytes: int
    pss_bytes: int | None
    threads: int
    fds: int


@dataclass
class TreeFigures:
    processes: list[ProcessFigures] = field(default_factory=list)

    def total(self, key: str) -> int:
        return sum(int(getattr(p, key) or 0) for p in self.processes)

    @property
    def pss_bytes(self) -> int | None:
        """Summed PSS, or None where any process lacks it (no /proc, or not readable)."""
        if any(p.pss_bytes is None for p in self.processes):
            return None
        return self.total("pss_bytes")

    def as_dict(self) -> dict[str, int]:
        """The sums the tests compare (``processes``, ``threads``, ``fds``, ``rss_bytes``,
        ``pss_bytes`` when known)."""
        summed = {
            "processes": len(self.processes),
            "threads": self.total("threads"),
            "fds": self.total("fds"),
            "rss_bytes": self.total("rss_bytes"),
        }
        if self.pss_bytes is not None:
            summed["pss_bytes"] = self.pss_bytes
        return summed


def read_pss(pid: int) -> int | None:
    """Proportional set size in bytes from ``smaps_rollup`` (Linux 4.14+), or None."""
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text(encoding="ascii")
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1]) * 1024
    return None


def tree(root_pid: int) -> TreeFigures:
    """One reading of ``root_pid`` and all its descendants (gone ones are skipped)."""
    root = psutil.Process(root_pid)
    figures = TreeFigures()
    for process in [root, *root.children(recursive=True)]:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied), process.oneshot():
            figures.processes.append(
                ProcessFigures(
                    pid=process.pid,
                    name=_name(process),
                    rss_bytes=process.memory_info().rss,
                    pss_bytes=read_pss(process.pid),
                    threads=process.num_threads(),
                    fds=process.num_fds() if hasattr(process, "num_fds") else 0,
                )
            )
    return figures


def tree_figures(root_pid: int) -> dict[str, int]:
    """Threads, open descriptors, processes and memory of a process and its tree, summed."""
    return tree(root_pid).as_dict()


def _name(process: psutil.Process) -> str:
    """What the process is: ``livekit-server``, or the sidecar subcommand (``up``, ``agent``,
    ``keeper`` ...) for our own Python processes."""
    try:
        argv = process.cmdline()
    except (psutil.AccessDenied, psutil.ZombieProcess):
        return process.name()
    if any(a.endswith("keeper.py") or a == "_keeper" for a in argv):
        return "keeper"
    if "voice_sidecar" in argv:
        rest = argv[argv.index("voice_sidecar") + 1 :]
        words = [a for a in rest if not a.startswith("-")]
        return words[0] if words else "voice-sidecar"
    return Path(argv[0]).name if argv else process.name()
