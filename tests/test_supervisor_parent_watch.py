"""watch_parent: the app is gone when its pid disappears or our stdin ends."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from voice_sidecar.supervisor.parent_watch import stdin_is_pipe, watch_parent

from .supervisor_support import CHILDREN

pytestmark = pytest.mark.timeout(30)

SLEEPER = [sys.executable, "-c", "import time; time.sleep(30)"]


@pytest.fixture
def parent() -> Iterator[subprocess.Popen[bytes]]:
    """A stand-in for the app; not an asyncio child, so it stays a zombie until reaped."""
    process = subprocess.Popen(SLEEPER)
    yield process
    process.kill()
    process.wait()


async def test_a_parent_that_exits_is_noticed(parent: subprocess.Popen[bytes]) -> None:
    watch = asyncio.ensure_future(watch_parent(parent.pid, poll_interval_s=0.05))
    await asyncio.sleep(0.1)
    assert not watch.done()
    parent.kill()
    parent.wait()
    assert await asyncio.wait_for(watch, 2) == "parent_exit"


async def test_a_zombie_parent_counts_as_gone(parent: subprocess.Popen[bytes]) -> None:
    """Dead but not yet reaped by its own parent: still a pid, no longer an app."""
    watch = asyncio.ensure_future(watch_parent(parent.pid, poll_interval_s=0.05))
    parent.kill()  # not waited for: a zombie
    assert await asyncio.wait_for(watch, 2) == "parent_exit"


async def test_a_parent_gone_before_the_watch_starts(parent: subprocess.Popen[bytes]) -> None:
    parent.kill()
    parent.wait()
    assert await asyncio.wait_for(watch_parent(parent.pid), 1) == "parent_exit"


async def test_end_of_stdin_is_noticed_and_data_before_it_ignored() -> None:
    read_end, write_end = os.pipe()
    with os.fdopen(read_end, "rb", buffering=0) as stdin:
        watch = asyncio.ensure_future(watch_parent(os.getpid(), watch_stdin=True, stdin=stdin))
        os.write(write_end, b"anything\n")
        await asyncio.sleep(0.1)
        assert not watch.done()
        os.close(write_end)
        assert await asyncio.wait_for(watch, 2) == "stdin_closed"


async def test_with_nothing_to_watch_it_waits_until_cancelled() -> None:
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(watch_parent(), 0.2)


def test_stdin_is_pipe(tmp_path: Path) -> None:
    read_end, write_end = os.pipe()
    with os.fdopen(read_end, "rb") as pipe:
        assert stdin_is_pipe(pipe)
    os.close(write_end)
    regular = tmp_path / "file"
    regular.write_bytes(b"")
    with regular.open("rb") as handle:
        assert not stdin_is_pipe(handle)
    with Path(os.devnull).open("rb") as null:  # Docker's and systemd's usual stdin
        assert not stdin_is_pipe(null)


def _wait_for_text(path: Path, text: str, timeout_s: float) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        content = path.read_text(encoding="utf-8") if path.exists() else ""
        if text in content:
            return content
        time.sleep(0.02)
    raise TimeoutError(f"{text!r} never appeared in {path}")


def test_a_watcher_process_exits_when_its_stdin_is_closed(tmp_path: Path) -> None:
    out = tmp_path / "out"
    watcher = subprocess.Popen(
        [sys.executable, str(CHILDREN / "watcher.py"), "--stdin", "--out", str(out)],
        stdin=subprocess.PIPE,
    )
    try:
        _wait_for_text(out, "watching", 10)
        assert watcher.stdin is not None
        watcher.stdin.close()
        assert watcher.wait(timeout=5) == 0
        assert out.read_text(encoding="utf-8").split() == ["watching", "stdin_closed"]
    finally:
        watcher.kill()
        watcher.wait()


def test_a_watcher_process_exits_when_its_real_parent_exits(tmp_path: Path) -> None:
    """parent -> watcher --parent-pid <parent>; the parent exits, the orphan notices."""
    out = tmp_path / "out"
    parent_code = (
        "import os, subprocess, sys, time\n"
        f"subprocess.Popen([sys.executable, {str(CHILDREN / 'watcher.py')!r},"
        f" '--parent-pid', str(os.getpid()), '--out', {str(out)!r}])\n"
        "deadline = time.monotonic() + 10\n"
        f"while time.monotonic() < deadline and not os.path.exists({str(out)!r}):\n"
        "    time.sleep(0.02)\n"
    )
    parent = subprocess.run([sys.executable, "-c", parent_code], timeout=15, check=True)
    assert parent.returncode == 0
    assert _wait_for_text(out, "parent_exit", 5).split() == ["watching", "parent_exit"]
