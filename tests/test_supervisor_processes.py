"""The supervisor with real child processes: crashes, hangs, stubborn children, grandchildren.

Every wait is bounded; a fixture kills whatever a failing test leaves behind.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from voice_sidecar.supervisor import ServiceState, Supervisor, SupervisorStartError

from .supervisor_support import (
    CHILDREN,
    Reaper,
    Recorder,
    gone,
    read_state,
    service_spec,
    until,
    wait_gone,
)

pytestmark = [
    pytest.mark.timeout(30),
    pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals; Windows paths differ"),
]


@pytest.fixture
def reaper() -> Iterator[Reaper]:
    tracked = Reaper()
    yield tracked
    tracked.kill_all()


async def test_kill_9_of_a_child_restarts_it(
    tmp_path: Path, reaper: Reaper, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="voice_sidecar.service")
    events = Recorder()
    supervisor = Supervisor([service_spec("svc", tmp_path, "--say", "hello")], on_event=events)
    try:
        await asyncio.wait_for(supervisor.start(), 10)
        first = reaper.track_state(tmp_path / "svc.json")
        os.kill(first["pid"], signal.SIGKILL)
        restarting = await events.wait_for(ServiceState.RESTARTING)
        assert restarting.message is not None
        assert "killed by SIGKILL" in restarting.message
        await events.wait_for(ServiceState.READY, count=2)
        status = supervisor.status()["svc"]
        assert status.state is ServiceState.READY
        assert status.restarts == 1
        assert status.pid not in (None, first["pid"])
        assert reaper.track_state(tmp_path / "svc.json")["pid"] == status.pid
    finally:
        await asyncio.wait_for(supervisor.stop(), 10)
    assert events.states() == ["starting", "ready", "restarting", "starting", "ready", "stopped"]
    # the child's stdout and stderr reach our log, one record per line, never our stdout
    said = [r.getMessage() for r in caplog.records if r.name == "voice_sidecar.service.svc"]
    assert said.count("hello") == 2
    assert said.count("hello (stderr)") == 2
    assert wait_gone(reaper.processes, 2) == []


async def test_crash_loop_goes_fatal_and_is_reported(tmp_path: Path, reaper: Reaper) -> None:
    events = Recorder()
    supervisor = Supervisor(
        [service_spec("svc", tmp_path, "--crash-after", "0.2")], on_event=events
    )
    try:
        await asyncio.wait_for(supervisor.start(), 10)
        fatal = await asyncio.wait_for(supervisor.wait_fatal(), 15)
        reaper.track_state(tmp_path / "svc.json")
    finally:
        await asyncio.wait_for(supervisor.stop(), 10)
    assert fatal.service == "svc"
    assert fatal.restarts == 3
    assert fatal.message is not None
    assert "exit code 3" in fatal.message
    assert "crash loop" in fatal.message
    assert events.states()[-1] == "fatal"  # reported once, then no more restarts
    assert events.states().count("starting") == 4
    assert supervisor.status()["svc"].state is ServiceState.FATAL
    assert wait_gone(reaper.processes, 2) == []


async def test_a_child_that_dies_at_once_fails_start(tmp_path: Path) -> None:
    events = Recorder()
    supervisor = Supervisor([service_spec("svc", tmp_path, "--crash-after", "0")], on_event=events)
    with pytest.raises(SupervisorStartError, match="svc did not start: exited before it was ready"):
        await asyncio.wait_for(supervisor.start(), 10)
    assert events.states() == ["starting", "restarting"] * 2 + ["starting", "fatal"]


async def test_a_missing_program_is_fatal_without_retries(tmp_path: Path) -> None:
    events = Recorder()
    spec = service_spec("livekit-server", tmp_path)
    spec = type(spec)(name=spec.name, argv=[str(tmp_path / "no-such-binary")], env={})
    supervisor = Supervisor([spec], on_event=events)
    with pytest.raises(SupervisorStartError, match=r"cannot start .*no-such-binary"):
        await asyncio.wait_for(supervisor.start(), 5)
    assert events.states() == ["fatal"]


async def test_a_hang_is_detected_the_tree_killed_and_the_child_restarted(
    tmp_path: Path, reaper: Reaper
) -> None:
    """The health server stops answering but the process lives on (a wedged child)."""
    events = Recorder()
    spec = service_spec(
        "svc",
        tmp_path,
        "--hang-after",
        "0.3",
        "--once",
        str(tmp_path / "hung"),
        "--grandchild",
        "plain",
    )
    supervisor = Supervisor([spec], on_event=events)
    try:
        await asyncio.wait_for(supervisor.start(), 10)
        hung = reaper.track_state(tmp_path / "svc.json")
        await events.wait_for(ServiceState.UNHEALTHY)
        restarting = await events.wait_for(ServiceState.RESTARTING)
        assert restarting.message is not None
        assert "2 health checks failed in a row" in restarting.message
        # the hung child and its grandchild were killed before the restart
        assert gone(hung["pid"])
        assert wait_gone(hung["grandchildren"], 2) == []
        await events.wait_for(ServiceState.READY, count=2)
        fresh = reaper.track_state(tmp_path / "svc.json")
        assert fresh["pid"] != hung["pid"]
        assert supervisor.status()["svc"].restarts == 1
    finally:
        await asyncio.wait_for(supervisor.stop(), 10)
    assert wait_gone(reaper.processes, 2) == []


async def test_a_child_ignoring_sigterm_is_killed_after_the_grace_period(
    tmp_path: Path, reaper: Reaper
) -> None:
    spec = service_spec("svc", tmp_path, "--ignore-term", "--grandchild", "plain", stop_grace_s=0.5)
    supervisor = Supervisor([spec], on_event=Recorder())
    await asyncio.wait_for(supervisor.start(), 10)
    state = reaper.track_state(tmp_path / "svc.json")
    began = time.monotonic()
    await asyncio.wait_for(supervisor.stop(), 10)
    took = time.monotonic() - began
    assert 0.5 <= took < 3.0
    # no descendant is left: the child and its grandchild (which also ignores SIGTERM)
    assert wait_gone([state["pid"], *state["grandchildren"]], 1) == []


async def test_a_polite_child_stops_without_waiting_for_the_grace_period(
    tmp_path: Path, reaper: Reaper
) -> None:
    supervisor = Supervisor([service_spec("svc", tmp_path, stop_grace_s=5.0)], on_event=Recorder())
    await asyncio.wait_for(supervisor.start(), 10)
    state = reaper.track_state(tmp_path / "svc.json")
    began = time.monotonic()
    await asyncio.wait_for(supervisor.stop(), 10)
    assert time.monotonic() - began < 2.0
    assert gone(state["pid"])


@pytest.mark.parametrize("kind", ["plain", "setsid", "orphan"])
async def test_grandchildren_are_killed_even_when_they_left_the_group(
    tmp_path: Path, reaper: Reaper, kind: str
) -> None:
    """plain: same group; setsid: a new session, still a descendant; orphan: double fork,
    re-parented to init, found only by the marker its environment inherited.

    Regression: asyncio's ``Process.wait()`` (3.11) also waits for the pipes, which a
    surviving grandchild holds open, so a child's crash went unnoticed until the
    health checks failed."""
    events = Recorder()
    supervisor = Supervisor([service_spec("svc", tmp_path, "--grandchild", kind)], on_event=events)
    try:
        await asyncio.wait_for(supervisor.start(), 10)
        first = reaper.track_state(tmp_path / "svc.json")
        assert not any(gone(pid) for pid in first["grandchildren"])
        os.kill(first["pid"], signal.SIGKILL)  # the grandchild outlives its parent...
        restarting = await events.wait_for(ServiceState.RESTARTING, timeout_s=2)
        assert restarting.message is not None
        assert "killed by SIGKILL" in restarting.message  # noticed as an exit, at once
        await events.wait_for(ServiceState.READY, count=2)
        assert wait_gone(first["grandchildren"], 2) == []  # ...but not the restart
        second = reaper.track_state(tmp_path / "svc.json")
    finally:
        await asyncio.wait_for(supervisor.stop(), 10)
    assert wait_gone([second["pid"], *second["grandchildren"]], 2) == []


async def _run_supervisor_script(
    tmp_path: Path, *args: str
) -> tuple[asyncio.subprocess.Process, dict[str, int]]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(CHILDREN / "run_supervisor.py"),
        "--state-dir",
        str(tmp_path),
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    try:
        line = await asyncio.wait_for(process.stdout.readline(), 15)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    import json

    pids: dict[str, int] = json.loads(line)
    return process, pids


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent-death signal is Linux")
async def test_kill_9_of_the_supervisor_takes_every_child_with_it(
    tmp_path: Path, reaper: Reaper
) -> None:
    process, pids = await _run_supervisor_script(tmp_path)
    reaper.track(process.pid, *pids.values())
    assert not any(gone(pid) for pid in pids.values())
    process.kill()
    await asyncio.wait_for(process.wait(), 5)
    assert await asyncio.to_thread(wait_gone, pids.values(), 5.0) == []


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="subreaper is Linux")
@pytest.mark.parametrize("kind", ["plain", "setsid", "orphan"])
async def test_kill_9_of_the_supervisor_takes_the_grandchildren_too(
    tmp_path: Path, reaper: Reaper, kind: str
) -> None:
    """Issue 15.5: only direct children got the parent-death signal, so a service's own
    children in another session (setsid) or double-forked (orphan) outlived a kill -9 of the
    supervisor. Each service now runs under a keeper, a subreaper that kills its whole tree
    when the supervisor dies."""
    process, pids = await _run_supervisor_script(tmp_path, "--grandchild", kind)
    reaper.track(process.pid, *pids.values())
    grandchildren = [pid for name, pid in pids.items() if "grandchild" in name]
    assert len(grandchildren) == 2
    assert not any(gone(pid) for pid in pids.values())
    process.kill()
    await asyncio.wait_for(process.wait(), 5)
    assert await asyncio.to_thread(wait_gone, pids.values(), 5.0) == []


async def test_without_a_parent_death_signal_children_exit_when_their_stdin_ends(
    tmp_path: Path, reaper: Reaper
) -> None:
    """The macOS path: no pdeathsig, so the child's own parent watch sees its stdin end."""
    process, pids = await _run_supervisor_script(
        tmp_path, "--no-parent-death-signal", "--children-watch-stdin"
    )
    reaper.track(process.pid, *pids.values())
    process.kill()
    await asyncio.wait_for(process.wait(), 5)
    assert await asyncio.to_thread(wait_gone, pids.values(), 5.0) == []


async def test_a_supervisor_without_children_left_behind_after_stop(tmp_path: Path) -> None:
    """Two services, stopped together: nothing from either tree survives."""
    specs = [
        service_spec("first", tmp_path, "--grandchild", "orphan"),
        service_spec("second", tmp_path, "--grandchild", "setsid"),
    ]
    supervisor = Supervisor(specs, on_event=Recorder())
    await asyncio.wait_for(supervisor.start(), 10)
    pids = [
        pid
        for name in ("first", "second")
        for pid in [read_state(tmp_path / f"{name}.json")["pid"]]
        + read_state(tmp_path / f"{name}.json")["grandchildren"]
    ]
    await asyncio.wait_for(supervisor.stop(), 10)
    await until(lambda: all(gone(pid) for pid in pids), 3)
