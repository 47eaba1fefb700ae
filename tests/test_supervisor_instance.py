"""The instance file: stale records from crashed runs are cleared, live ones are reported."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from voice_sidecar.supervisor.instance import (
    InstanceFile,
    InstanceRecord,
    InstanceRunningError,
    InstanceState,
    classify,
)

pytestmark = pytest.mark.timeout(30)

CLAIMER = (
    "import sys, time\n"
    "from pathlib import Path\n"
    "from voice_sidecar.supervisor.instance import InstanceFile\n"
    "InstanceFile(Path(sys.argv[1])).claim(version='9.9.9', ports={'control': 4242})\n"
    "print('claimed', flush=True)\n"
    "time.sleep(30)\n"
)


def _record(pid: int, create_time: float) -> InstanceRecord:
    return InstanceRecord(pid=pid, create_time=create_time, version="0.0.1", ports={"api": 1})


@pytest.mark.parametrize(
    ("actual", "expected"),
    [
        (None, InstanceState.GONE),
        (1000.0, InstanceState.LIVE),
        (1000.4, InstanceState.LIVE),
        (1003.0, InstanceState.REUSED),
        (900.0, InstanceState.REUSED),
    ],
)
def test_classify(actual: float | None, expected: InstanceState) -> None:
    assert classify(_record(42, 1000.0), actual) is expected


def test_claim_writes_a_complete_record_and_release_removes_it(tmp_path: Path) -> None:
    path = tmp_path / "state" / "instance.json"
    instance = InstanceFile(path)
    mine = instance.claim(version="1.2.3", ports={"control": 8123})
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["pid"] == os.getpid()
    assert data["create_time"] == pytest.approx(psutil.Process().create_time())
    assert data["version"] == "1.2.3"
    assert data["ports"] == {"control": 8123}
    assert data["started_at"]
    assert instance.read() == mine
    updated = instance.update(ports={"control": 8123, "livekit": 7880})
    assert instance.read() == updated
    assert [p.name for p in path.parent.iterdir()] == ["instance.json"]  # no temporary left
    instance.release()
    assert not path.exists()


def test_a_second_claim_while_we_run_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "instance.json"
    InstanceFile(path).claim(version="1")
    with pytest.raises(InstanceRunningError) as caught:
        InstanceFile(path).claim(version="1")
    assert caught.value.pid == os.getpid()


def test_a_live_instance_in_another_process_is_reported_not_adopted(tmp_path: Path) -> None:
    path = tmp_path / "instance.json"
    other = subprocess.Popen([sys.executable, "-c", CLAIMER, str(path)], stdout=subprocess.PIPE)
    try:
        assert other.stdout is not None
        assert other.stdout.readline().strip() == b"claimed"
        before = path.read_bytes()
        with pytest.raises(InstanceRunningError) as caught:
            InstanceFile(path).claim(version="1")
        assert caught.value.pid == other.pid
        assert f"pid {other.pid}" in str(caught.value)
        assert "control 4242" in str(caught.value)
        assert path.read_bytes() == before  # untouched
        # the other instance crashes (kill -9): its file stays behind, and is now stale
        other.kill()
        other.wait(timeout=5)
        assert path.exists()
        assert InstanceFile(path).claim(version="2").pid == os.getpid()
    finally:
        other.kill()
        other.wait()


def test_a_stale_file_whose_pid_is_gone_is_removed_with_a_log_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    path = tmp_path / "instance.json"
    path.write_text(_record(dead.pid, time.time() - 60).to_json(), encoding="utf-8")
    with caplog.at_level(logging.INFO, logger="voice_sidecar"):
        mine = InstanceFile(path).claim(version="1")
    assert mine.pid == os.getpid()
    assert f"pid {dead.pid} has exited" in caplog.text
    assert "stale instance file" in caplog.text


def test_a_stale_file_whose_pid_was_reused_is_removed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The recorded pid runs, but it is a process started at another time: not ours."""
    path = tmp_path / "instance.json"
    reused = _record(os.getpid(), psutil.Process().create_time() - 3600)
    path.write_text(reused.to_json(), encoding="utf-8")
    with caplog.at_level(logging.INFO, logger="voice_sidecar"):
        InstanceFile(path).claim(version="1")
    assert "now belongs to another process" in caplog.text


@pytest.mark.parametrize(
    "content",
    [b"", b"{not json", b"[]", b'{"pid": "x", "create_time": 1}', b'{"pid": 5}', b"\xff\xfe"],
)
def test_an_unreadable_file_is_treated_as_stale(
    tmp_path: Path, content: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "instance.json"
    path.write_bytes(content)
    with caplog.at_level(logging.WARNING, logger="voice_sidecar"):
        InstanceFile(path).claim(version="1")
    assert "unreadable instance file" in caplog.text
    assert InstanceFile(path).read() is not None


def test_release_leaves_a_file_that_is_no_longer_ours(tmp_path: Path) -> None:
    path = tmp_path / "instance.json"
    instance = InstanceFile(path)
    instance.claim(version="1")
    someone_else = _record(os.getpid() + 1, 5.0).to_json()
    path.write_text(someone_else, encoding="utf-8")
    instance.release()
    assert path.read_text(encoding="utf-8") == someone_else


def test_losing_the_race_to_a_concurrent_start_reports_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both starts saw no file; the other one published first: we must not overwrite it."""
    path = tmp_path / "instance.json"
    loser = InstanceFile(path)
    monkeypatch.setattr(loser, "_clear_stale", lambda: None)  # the check ran before the winner
    InstanceFile(path).claim(version="winner")
    with pytest.raises(InstanceRunningError):
        loser.claim(version="loser")
    assert InstanceFile(path).read() is not None
    assert json.loads(path.read_text(encoding="utf-8"))["version"] == "winner"
