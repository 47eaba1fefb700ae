"""Download progress as typed events.

A download reports to a ``ProgressCallback``; renderers (``progress_render.py``)
turn the events into a terminal bar or JSON lines. Within one model download
``bytes`` never decreases: a file fetched again from scratch (its first copy
failed verification) holds the count until it catches up.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Literal

EventName = Literal[
    "model_download_waiting",
    "model_download_started",
    "model_download_progress",
    "model_download_retry",
    "model_download_file_done",
    "model_download_finished",
    "model_download_failed",
]


@dataclass(frozen=True)
class ModelDownloadEvent:
    event: EventName
    model: str
    kind: str
    bytes: int
    """Bytes of the whole model on disk and verified or in flight; never decreases."""
    total: int | None
    file: str | None = None
    file_bytes: int = 0
    file_total: int | None = None
    rate_bps: float | None = None
    """Transfer rate over the last few seconds, bytes per second."""
    eta_s: float | None = None
    message: str | None = None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        if self.rate_bps is not None:
            data["rate_bps"] = round(self.rate_bps, 1)
        if self.eta_s is not None:
            data["eta_s"] = round(self.eta_s, 1)
        return data


ProgressCallback = Callable[[ModelDownloadEvent], None]


def fan_out(*callbacks: ProgressCallback | None) -> ProgressCallback:
    """One callback that calls each of ``callbacks`` (Nones are skipped)."""
    active = [c for c in callbacks if c is not None]

    def emit(event: ModelDownloadEvent) -> None:
        for callback in active:
            callback(event)

    return emit


class ProgressTracker:
    """Counts a model's bytes across its files and emits throttled, monotonic events."""

    def __init__(
        self,
        *,
        model: str,
        kind: str,
        total: int | None,
        callback: ProgressCallback | None,
        clock: Callable[[], float] = time.monotonic,
        min_interval_s: float = 0.2,
        rate_window_s: float = 5.0,
    ) -> None:
        self.model = model
        self.kind = kind
        self.total = total
        self._callback = callback
        self._clock = clock
        self._min_interval_s = min_interval_s
        self._rate_window_s = rate_window_s
        self._done_bytes = 0
        self._file: str | None = None
        self._file_bytes = 0
        self._file_total: int | None = None
        self._reported = 0
        self._reported_file = 0
        self._last_emit = float("-inf")
        self._samples: deque[tuple[float, int]] = deque()
        self._transferred = 0

    @property
    def bytes(self) -> int:
        return self._reported

    def _rate(self, now: float) -> float | None:
        while self._samples and now - self._samples[0][0] > self._rate_window_s:
            self._samples.popleft()
        if not self._samples:
            return None
        start, start_bytes = self._samples[0]
        elapsed = now - start
        if elapsed <= 0:
            return None
        return (self._transferred - start_bytes) / elapsed

    def _emit(self, event: EventName, *, message: str | None = None, force: bool = True) -> None:
        now = self._clock()
        if not force and now - self._last_emit < self._min_interval_s:
            return
        self._last_emit = now
        current = self._done_bytes + self._file_bytes
        self._reported = max(self._reported, current)
        self._reported_file = max(self._reported_file, self._file_bytes)
        rate = self._rate(now)
        eta = None
        if rate and rate > 0 and self.total is not None:
            eta = max(0.0, (self.total - self._reported) / rate)
        if self._callback is None:
            return
        self._callback(
            ModelDownloadEvent(
                event=event,
                model=self.model,
                kind=self.kind,
                bytes=self._reported,
                total=self.total,
                file=self._file,
                file_bytes=self._reported_file,
                file_total=self._file_total,
                rate_bps=rate,
                eta_s=eta,
                message=message,
            )
        )

    def waiting(self, message: str) -> None:
        self._emit("model_download_waiting", message=message)

    def started(self) -> None:
        self._samples.append((self._clock(), self._transferred))
        self._emit("model_download_started")

    def start_file(self, name: str, *, total: int | None, present: int = 0) -> None:
        """``present``: bytes already on disk from an earlier, interrupted attempt."""
        self._switch_file(name, total)
        self._file_bytes = present
        self._emit("model_download_progress", force=False)

    def _switch_file(self, name: str, total: int | None) -> None:
        if self._file != name:
            self._reported_file = 0
        self._file = name
        self._file_total = total

    def file_present(self, name: str, size: int) -> None:
        """A file that is already installed and verified counts as done."""
        self._switch_file(name, size)
        self._file_bytes = size
        self.file_done()

    def advance(self, count: int) -> None:
        self._file_bytes += count
        self._transferred += count
        self._samples.append((self._clock(), self._transferred))
        self._emit("model_download_progress", force=False)

    def restart_file(self, reason: str) -> None:
        """The file's bytes so far are discarded; the count holds until it catches up."""
        self._file_bytes = 0
        self._emit("model_download_retry", message=reason)

    def retry(self, reason: str) -> None:
        self._emit("model_download_retry", message=reason)

    def file_done(self) -> None:
        size = self._file_bytes
        self._emit("model_download_file_done")
        self._done_bytes += size
        self._file_bytes = 0

    def finished(self) -> None:
        self._file = None
        self._file_total = None
        self._reported_file = 0
        if self.total is None:
            self.total = max(self._reported, self._done_bytes)
        self._emit("model_download_finished")

    def failed(self, message: str) -> None:
        self._emit("model_download_failed", message=message)
