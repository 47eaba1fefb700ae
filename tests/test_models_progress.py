"""Progress events, their renderings, the per-model lock and the free-space check."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from voice_sidecar.errors import DiskFullError
from voice_sidecar.models.locking import LockTimeoutError, ModelLock
from voice_sidecar.models.progress import ModelDownloadEvent, ProgressTracker
from voice_sidecar.models.progress_render import (
    JsonLinesProgress,
    TerminalProgressBar,
    format_bar,
)
from voice_sidecar.models.space import check_free_space

from .models_support import Events


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_events_are_monotonic_with_rate_and_eta_even_when_a_file_restarts() -> None:
    clock = Clock()
    events = Events()
    tracker = ProgressTracker(
        model="m", kind="whisper", total=300, callback=events, clock=clock, min_interval_s=0
    )
    tracker.started()
    tracker.start_file("a", total=100)
    for _ in range(10):
        clock.now += 1
        tracker.advance(10)
    tracker.file_done()
    tracker.start_file("b", total=200)
    clock.now += 1
    tracker.advance(150)
    tracker.restart_file("b did not match its sha256; fetching it again")
    clock.now += 1
    tracker.advance(50)  # the fresh copy: behind what was reported
    clock.now += 1
    tracker.advance(150)
    tracker.file_done()
    tracker.finished()
    counts = [e.bytes for e in events]
    assert counts == sorted(counts)
    assert counts[-1] == 300
    b_counts = [e.file_bytes for e in events if e.file == "b"]
    assert b_counts == sorted(b_counts)
    rated = [e for e in events if e.rate_bps]
    assert rated
    assert rated[0].rate_bps == pytest.approx(10.0)
    assert all(e.eta_s is not None and e.eta_s >= 0 for e in rated)
    assert events[-1].event == "model_download_finished"


def test_progress_is_throttled_but_file_boundaries_are_not() -> None:
    clock = Clock()
    events = Events()
    tracker = ProgressTracker(
        model="m", kind="piper", total=1000, callback=events, clock=clock, min_interval_s=0.5
    )
    tracker.started()
    tracker.start_file("x", total=1000)
    for _ in range(100):
        clock.now += 0.01
        tracker.advance(10)
    tracker.file_done()
    tracker.finished()
    assert len(events.named("model_download_progress")) <= 4
    assert events[-2].event == "model_download_file_done"
    assert events[-2].bytes == 1000


def _event(**fields: object) -> ModelDownloadEvent:
    base: dict[str, object] = {
        "event": "model_download_progress",
        "model": "small.en",
        "kind": "whisper",
        "bytes": 250_000_000,
        "total": 500_000_000,
        "file": "model.bin",
        "file_bytes": 250_000_000,
        "file_total": 490_000_000,
        "rate_bps": 12_500_000.0,
        "eta_s": 20.0,
    }
    base.update(fields)
    return ModelDownloadEvent(**base)  # type: ignore[arg-type]


def test_terminal_bar() -> None:
    text = format_bar(_event())
    assert text.startswith("small.en [##############..............]  50%")
    assert "250.0 MB/500.0 MB" in text
    assert "12.5 MB/s" in text
    assert "ETA 00:20" in text
    assert "?%" in format_bar(_event(total=None, eta_s=None))


def test_terminal_bar_redraws_on_a_tty_and_prints_lines_on_a_pipe() -> None:
    tty = io.StringIO()
    bar = TerminalProgressBar(tty, is_tty=True)
    bar(_event(event="model_download_started"))
    bar(_event())
    bar(_event(event="model_download_finished", bytes=500_000_000))
    out = tty.getvalue()
    assert "\r" in out
    assert out.endswith("\n")
    pipe = io.StringIO()
    clock = Clock()
    piped = TerminalProgressBar(pipe, is_tty=False, line_interval_s=5, clock=clock)
    for _ in range(10):
        piped(_event())
    assert "\r" not in pipe.getvalue()
    assert pipe.getvalue().count("\n") == 1


def test_json_lines() -> None:
    out = io.StringIO()
    sink = JsonLinesProgress(out)
    sink(_event())
    sink(_event(event="model_download_finished"))
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [line["event"] for line in lines] == [
        "model_download_progress",
        "model_download_finished",
    ]
    assert lines[0] | {"bytes": 250_000_000, "total": 500_000_000, "eta_s": 20.0} == lines[0]


def test_model_lock_is_exclusive_and_reports_waiting(tmp_path: Path) -> None:
    path = tmp_path / "locks" / "whisper-x.lock"
    waited: list[str] = []
    with ModelLock(path):
        with pytest.raises(LockTimeoutError, match="still fetching"):
            ModelLock(
                path, timeout_s=0.2, poll_s=0.02, on_wait=lambda: waited.append("x")
            ).acquire()
        assert waited == ["x"]
    # free again
    with ModelLock(path, timeout_s=1):
        pass


@pytest.mark.parametrize(
    ("needed", "free", "ok"),
    [(100, 10**9, True), (10**9, 10**9, False), (0, 64 * 1024 * 1024, True), (1, 1000, False)],
)
def test_free_space_check(needed: int, free: int, ok: bool, tmp_path: Path) -> None:
    if ok:
        check_free_space(needed=needed, free=free, directory=tmp_path, what="m")
    else:
        with pytest.raises(DiskFullError, match="not enough free space for m"):
            check_free_space(needed=needed, free=free, directory=tmp_path, what="m")
