"""``start``'s readable output: the same events as ``up``'s JSON lines, rendered for people."""

from __future__ import annotations

import io
import json
import time
from typing import Any

import pytest

from voice_sidecar.event_render import PlainEventWriter, render_event
from voice_sidecar.events import EventWriter
from voice_sidecar.redaction import Redactor


def _event(name: str, **fields: Any) -> dict[str, Any]:
    return {"v": 1, "event": name, "time": 1795671667.04, **fields}


def _service(state: str, **fields: Any) -> dict[str, Any]:
    return _event(
        "service",
        **{
            "service": "agent",
            "state": state,
            "restarts": 0,
            "pid": None,
            "message": None,
            **fields,
        },
    )


def _progress(phase: str, **fields: Any) -> dict[str, Any]:
    base = {
        "model": "tiny.en",
        "kind": "whisper",
        "phase": phase,
        "file": "model.bin",
        "bytes": 0,
        "total": 75_500_000,
        "rate_bps": None,
        "eta_s": None,
        "done": False,
        "message": None,
    }
    return _event("model_progress", **{**base, **fields})


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (
            _event("starting", version="0.1.0", pid=42, log_file="/l/v.log"),
            "voice-sidecar 0.1.0 starting (pid 42); log file: /l/v.log",
        ),
        (_service("starting", pid=7), "agent: starting (pid 7)"),
        (_service("ready", pid=7), "agent: ready (pid 7)"),
        (_service("stopped", pid=7, message="stopped"), "agent: stopped"),
        (
            _service("restarting", restarts=2, message="exited with code 1"),
            "agent: restarting [restarts: 2]: exited with code 1",
        ),
        (
            _service("unhealthy", message="health check failed"),
            "agent: not answering its health check: health check failed",
        ),
        (_service("fatal", message="keeps crashing"), "agent: failed for good: keeps crashing"),
        (
            _event("error", code="port_busy", message="port 7880 is busy", fatal=True),
            "error: port 7880 is busy",
        ),
        (
            _event("error", code="llm_unreachable", message="cannot reach the LLM", fatal=False),
            "warning: cannot reach the LLM",
        ),
        (_event("stopped", reason="signal"), "stopped (Ctrl+C or a stop signal)"),
        (_event("stopped", reason="fatal"), "stopped (after a fatal error)"),
        (_progress("model_download_started"), "fetching tiny.en"),
        (
            _progress("model_download_retry", message="connection reset"),
            "tiny.en: connection reset; retrying",
        ),
        (
            _progress("model_download_failed", message="HTTP 403"),
            "tiny.en: download failed: HTTP 403",
        ),
        (_event("something_new", a=1), "something_new: a=1"),
    ],
)
def test_each_event_is_one_readable_line(payload: dict[str, Any], expected: str) -> None:
    assert render_event(payload) == expected


def test_the_missing_key_warning_says_what_to_do_at_a_terminal() -> None:
    text = render_event(
        _event("error", code="missing_api_key", message="... (PUT /key) ...", fatal=False)
    )
    assert text is not None
    assert text.startswith("warning: no Nebius API key")
    assert "voice-sidecar key set" in text
    assert "PUT /key" not in text


def test_ready_names_every_address_and_how_to_stop() -> None:
    text = render_event(
        _event(
            "ready",
            control_url="http://127.0.0.1:5000",
            token="tok",
            livekit_url="ws://127.0.0.1:7880",
            log_file="/l/v.log",
            llm_key="missing",
        )
    )
    assert text is not None
    lines = text.splitlines()
    assert lines[0] == "Ready: the voice backend is running."
    assert "ws://127.0.0.1:7880" in text
    assert "http://127.0.0.1:5000 (bearer token tok)" in text
    assert "LLM key:     missing" in text
    assert lines[-1] == "Press Ctrl+C to stop everything."


def test_download_progress_is_a_bar() -> None:
    text = render_event(
        _progress("model_download_progress", bytes=37_750_000, rate_bps=10_000_000.0, eta_s=3.8)
    )
    assert text is not None
    assert text.startswith("tiny.en [")
    assert " 50%" in text
    assert "37.8 MB/75.5 MB" in text
    finished = render_event(_progress("model_download_finished", bytes=75_500_000, done=True))
    assert finished is not None
    assert "100%" in finished
    assert finished.endswith("done")


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _writer(stream: io.StringIO, redactor: Redactor, clock: _Clock) -> PlainEventWriter:
    return PlainEventWriter(
        stream, redactor, clock=lambda: 1795671667.0, monotonic=clock, timestamps=False
    )


def test_progress_is_thinned_out_but_its_start_and_end_always_shown() -> None:
    out = io.StringIO()
    clock = _Clock()
    writer = _writer(out, Redactor(), clock)
    for step in range(10):  # five seconds of progress, twice a second
        clock.now = step * 0.5
        writer.emit("model_progress", **_strip(_progress("model_download_progress", bytes=step)))
    lines = out.getvalue().splitlines()
    assert len(lines) == 3  # at 0, 2 and 4 seconds
    writer.emit("model_progress", **_strip(_progress("model_download_finished", bytes=9)))
    assert out.getvalue().splitlines()[-1].endswith("done")


def _strip(payload: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in payload.items() if k not in ("v", "event", "time")}


def test_lines_carry_the_local_time_and_secrets_stay_masked() -> None:
    out = io.StringIO()
    redactor = Redactor()
    redactor.add("s3cret-value-of-some-length")
    writer = PlainEventWriter(out, redactor, clock=lambda: 1795671667.0)
    writer.emit("error", code="internal", message="boom s3cret-value-of-some-length", fatal=True)
    writer.emit("ready", control_url="c", token="t", livekit_url="l", log_file="f", llm_key="ok")
    text = out.getvalue()
    stamp = time.strftime("%H:%M:%S", time.localtime(1795671667.0))
    assert text.startswith(f"{stamp} error: boom ")
    assert "s3cret-value-of-some-length" not in text
    ready = text.splitlines()[1:]
    assert ready[0] == f"{stamp} Ready: the voice backend is running."
    assert all(line.startswith(" " * (len(stamp) + 1)) for line in ready[1:])


def test_up_keeps_its_json_lines() -> None:
    """The renderer hook must not change the desktop app's contract."""
    out = io.StringIO()
    writer = EventWriter(out, Redactor(), clock=lambda: 1795671667.04)
    writer.emit("stopped", reason="signal")
    assert json.loads(out.getvalue()) == {
        "v": 1,
        "event": "stopped",
        "time": 1795671667.04,
        "reason": "signal",
    }


def test_a_closed_terminal_does_not_break_the_writer() -> None:
    class Gone(io.StringIO):
        def write(self, text: str) -> int:
            raise OSError(5, "Input/output error")

    PlainEventWriter(Gone(), Redactor()).emit("stopped", reason="signal")
