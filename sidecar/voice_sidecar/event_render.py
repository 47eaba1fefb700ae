"""The events of ``up`` (docs/sidecar-protocol.md) as lines for a person at a terminal.

``voice-sidecar start`` runs the same stack as ``up`` and writes its events through
``PlainEventWriter`` instead of as JSON; ``up`` keeps the JSON contract.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any, TextIO, cast

from .events import EventWriter
from .models.progress import EventName, ModelDownloadEvent
from .models.progress_render import format_bar
from .redaction import Redactor

_SERVICE_STATES = {
    "starting": "starting",
    "ready": "ready",
    "unhealthy": "not answering its health check",
    "restarting": "restarting",
    "stopped": "stopped",
    "fatal": "failed for good",
}

_STOP_REASONS = {
    "signal": "Ctrl+C or a stop signal",
    "stdin_closed": "standard input closed",
    "parent_exit": "the parent process exited",
    "shutdown_request": "POST /shutdown",
    "fatal": "after a fatal error",
}

# the app-facing advice of some events, said the way a person at a terminal acts on it
_TERMINAL_ADVICE = {
    "missing_api_key": "no Nebius API key: the assistant will say that it needs one; store it "
    "with 'voice-sidecar key set' (or set NEBIUS_API_KEY) and start again",
}

# model_progress phases that arrive many times a second and are thinned out
THROTTLED_PHASES = frozenset({"model_download_progress", "model_download_file_done"})


def _download_event(payload: Mapping[str, Any]) -> ModelDownloadEvent:
    return ModelDownloadEvent(
        event=cast(EventName, payload.get("phase")),
        model=str(payload.get("model")),
        kind=str(payload.get("kind")),
        bytes=int(payload.get("bytes") or 0),
        total=payload.get("total"),
        file=payload.get("file"),
        rate_bps=payload.get("rate_bps"),
        eta_s=payload.get("eta_s"),
        message=payload.get("message"),
    )


def _render_progress(payload: Mapping[str, Any]) -> str:
    phase = payload.get("phase")
    model = payload.get("model")
    message = payload.get("message")
    if phase == "model_download_waiting":
        return f"{model}: {message}"
    if phase == "model_download_started":
        return f"fetching {model}"
    if phase == "model_download_retry":
        return f"{model}: {message}; retrying"
    if phase == "model_download_failed":
        return f"{model}: download failed: {message}"
    bar = format_bar(_download_event(payload))
    return f"{bar}  done" if phase == "model_download_finished" else bar


def _render_ready(payload: Mapping[str, Any]) -> str:
    lines = [
        "Ready: the voice backend is running.",
        f"  LiveKit:     {payload.get('livekit_url')}",
        f"  control API: {payload.get('control_url')} (bearer token {payload.get('token')})",
        f"  log file:    {payload.get('log_file')}",
    ]
    if payload.get("llm_key") == "missing":
        lines.append("  LLM key:     missing (voice-sidecar key set, then start again)")
    lines.append("Press Ctrl+C to stop everything.")
    return "\n".join(lines)


def render_event(payload: Mapping[str, Any]) -> str | None:
    """One event as readable text (several lines for ``ready``); None for nothing to say."""
    event = payload.get("event")
    if event == "starting":
        return (
            f"voice-sidecar {payload.get('version')} starting (pid {payload.get('pid')}); "
            f"log file: {payload.get('log_file')}"
        )
    if event == "service":
        state = str(payload.get("state"))
        text = f"{payload.get('service')}: {_SERVICE_STATES.get(state, state)}"
        if payload.get("pid") and state in ("starting", "ready"):
            text += f" (pid {payload['pid']})"
        if payload.get("restarts"):
            text += f" [restarts: {payload['restarts']}]"
        message = payload.get("message")
        if message and message != state:
            text += f": {message}"
        return text
    if event == "model_progress":
        return _render_progress(payload)
    if event == "ready":
        return _render_ready(payload)
    if event == "error":
        kind = "error" if payload.get("fatal") else "warning"
        advice = _TERMINAL_ADVICE.get(str(payload.get("code")))
        return f"{kind}: {advice or payload.get('message')}"
    if event == "stopped":
        reason = str(payload.get("reason"))
        return f"stopped ({_STOP_REASONS.get(reason, reason)})"
    if event is None:
        return None
    details = ", ".join(
        f"{key}={value}" for key, value in payload.items() if key not in ("v", "event", "time")
    )
    return f"{event}: {details}" if details else str(event)


class PlainEventWriter(EventWriter):
    """Events as readable lines, each stamped with the local time; model progress at most
    once per ``progress_interval_s`` per model. Secrets are masked as in the JSON writer."""

    def __init__(
        self,
        stream: TextIO,
        redactor: Redactor,
        *,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        timestamps: bool = True,
        progress_interval_s: float = 2.0,
    ) -> None:
        super().__init__(stream, redactor, clock=clock)
        self._monotonic = monotonic
        self._timestamps = timestamps
        self._progress_interval_s = progress_interval_s
        self._last_progress: dict[str, float] = {}

    def format(self, payload: dict[str, Any]) -> str | None:
        if payload.get("event") == "model_progress" and payload.get("phase") in THROTTLED_PHASES:
            model = str(payload.get("model"))
            now = self._monotonic()
            if now - self._last_progress.get(model, float("-inf")) < self._progress_interval_s:
                return None
            self._last_progress[model] = now
        text = render_event(payload)
        if text is None or not self._timestamps:
            return text
        stamp = time.strftime("%H:%M:%S", time.localtime(float(payload["time"])))
        first, *rest = text.split("\n")
        return "\n".join([f"{stamp} {first}", *(f"{' ' * len(stamp)} {line}" for line in rest)])
