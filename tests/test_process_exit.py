"""Leaving the process after LiveKit's Rust runtime ran (``voice_sidecar.process_exit``).

Each case runs a real Python process: once LiveKit's runtime starts in a process, that
process carries the hazard, so none of it may start inside the test runner.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from voice_sidecar.cli import _report_uncaught

ROOT = Path(__file__).resolve().parent.parent


def _python(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, cwd=cwd, timeout=120, check=False
    )


def _hazard(mode: str, marker_dir: Path) -> subprocess.CompletedProcess[str]:
    return _python("-m", "tests.ffi_exit_hazard", mode, str(marker_dir))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's pthread_exit unwind")
def test_a_plain_exit_with_a_callback_in_flight_aborts(tmp_path: Path) -> None:
    # the failure the module exists for; if this starts passing after an upgrade of LiveKit
    # or Python, process_exit may no longer be needed
    proc = _hazard("plain", tmp_path)
    assert proc.returncode == -signal.SIGABRT, proc.stderr
    assert "panic in a function that cannot unwind" in proc.stderr


def test_the_entry_point_exits_cleanly_with_a_callback_in_flight(tmp_path: Path) -> None:
    proc = _hazard("cli", tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "panic" not in proc.stderr
    # the command's output, the atexit handlers and the foreground threads all made it
    assert proc.stdout.strip().endswith(".toml"), proc.stdout
    assert (tmp_path / "atexit-ran").exists()
    assert (tmp_path / "thread-finished").exists()
    assert (tmp_path / "pool-used").exists()  # and its idle pool did not hold the exit up


def test_the_runtime_counts_as_started_only_once_used() -> None:
    script = (
        "from voice_sidecar.process_exit import native_runtime_started as started\n"
        "from livekit import rtc\n"
        "print(started())\n"
        "rtc.AudioResampler(48000, 16000)\n"
        "print(started())\n"
    )
    proc = _python("-c", script)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["False", "True"]


def test_without_the_runtime_the_interpreter_exits_as_usual(tmp_path: Path) -> None:
    # finalization runs (the object's __del__ writes its file) and the code comes through
    marker = tmp_path / "finalized"
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from voice_sidecar.process_exit import end_process\n"
        "class Finalized:\n"
        "    def __del__(self, path=Path(sys.argv[1])):\n"
        "        path.touch()\n"
        "keep = Finalized()\n"
        "end_process(3)\n"
    )
    proc = _python("-c", script, str(marker))
    assert proc.returncode == 3, proc.stderr
    assert marker.exists()


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (SystemExit(0), 0),
        (SystemExit(None), 0),
        (SystemExit(2), 2),
        (SystemExit("usage: bad flag"), 1),
        (KeyboardInterrupt(), 130),
        (ValueError("boom"), 1),
    ],
)
def test_uncaught_errors_end_with_the_interpreters_exit_code(
    error: BaseException, code: int, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _report_uncaught(error) == code
    err = capsys.readouterr().err
    if isinstance(error, ValueError):
        assert "ValueError: boom" in err
    if error.args and isinstance(error.args[0], str) and isinstance(error, SystemExit):
        assert "usage: bad flag" in err


def test_every_way_of_starting_the_program_goes_through_run() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert project["project"]["scripts"]["voice-sidecar"] == "voice_sidecar.cli:run"
    for source in (ROOT / "sidecar/voice_sidecar/__main__.py", ROOT / "installers/entry.py"):
        text = source.read_text(encoding="utf-8")
        assert "run()" in text, source
        assert "main()" not in text, source
