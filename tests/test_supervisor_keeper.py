"""The keeper in front of each service (Linux): exit status passed through, orphans reaped."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from voice_sidecar.supervisor.spawner import KEEPER_COMMAND, keeper_command

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="subreaper is Linux")


def _keep(*argv: str, entry: list[str] | None = None) -> subprocess.CompletedProcess[str]:
    command = entry or keeper_command()
    assert command is not None
    return subprocess.run(
        [*command, "--parent", str(os.getpid()), "--", *argv],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_exit_code_is_the_services() -> None:
    assert _keep(sys.executable, "-c", "raise SystemExit(3)").returncode == 3


def test_a_signal_death_is_the_services() -> None:
    done = _keep(sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGTERM)")
    assert done.returncode == -signal.SIGTERM


def test_the_frozen_entry_point_runs_the_keeper_too() -> None:
    """`voice-sidecar _keeper ...`: what the frozen executable runs in front of a service."""
    assert KEEPER_COMMAND == "_keeper"  # cli.run spells it out
    done = _keep(
        sys.executable,
        "-c",
        "print('hi')",
        entry=[sys.executable, "-m", "voice_sidecar", "_keeper"],
    )
    assert (done.returncode, done.stdout) == (0, "hi\n")


def test_an_orphan_left_behind_is_ended_before_the_keeper_exits() -> None:
    code = (
        "import subprocess, sys\n"
        "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'],"
        " start_new_session=True)\n"
        "print(p.pid, flush=True)\n"
    )
    done = _keep(sys.executable, "-c", code)
    assert done.returncode == 0
    orphan = int(done.stdout.split()[0])
    with pytest.raises(ProcessLookupError):
        os.kill(orphan, 0)
