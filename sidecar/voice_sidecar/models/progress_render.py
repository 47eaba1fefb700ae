"""Progress events for people (a bar on stderr) and for programs (JSON lines)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import TextIO

from .progress import ModelDownloadEvent


def _size(count: int | None) -> str:
    if count is None:
        return "?"
    if count >= 1_000_000_000:
        return f"{count / 1_000_000_000:.2f} GB"
    return f"{count / 1_000_000:.1f} MB"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "--:--"
    whole = int(seconds + 0.5)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


def format_bar(event: ModelDownloadEvent, *, width: int = 28) -> str:
    """``tiny.en [#######.....]  45%  34.0 MB/75.5 MB  12.3 MB/s  ETA 00:03``."""
    if event.total:
        fraction = min(1.0, event.bytes / event.total)
        filled = int(fraction * width)
        bar = "#" * filled + "." * (width - filled)
        percent = f"{fraction * 100:3.0f}%"
    else:
        bar = "?" * width
        percent = "  ?%"
    rate = f"{_size(int(event.rate_bps))}/s" if event.rate_bps else "-"
    return (
        f"{event.model} [{bar}] {percent}  {_size(event.bytes)}/{_size(event.total)}  "
        f"{rate}  ETA {_duration(event.eta_s)}"
    )


class TerminalProgressBar:
    """Redraws one line on a terminal; on a pipe, prints a line now and then instead."""

    def __init__(
        self,
        stream: TextIO,
        *,
        is_tty: bool | None = None,
        line_interval_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._stream = stream
        self._tty = stream.isatty() if is_tty is None else is_tty
        self._line_interval_s = line_interval_s
        self._clock = clock
        self._last_line = float("-inf")
        self._drawn = False

    def __call__(self, event: ModelDownloadEvent) -> None:
        if event.event == "model_download_waiting":
            self._line(f"{event.model}: {event.message}")
        elif event.event in ("model_download_progress", "model_download_file_done"):
            self._draw(event)
        elif event.event == "model_download_started":
            self._line(f"fetching {event.model} ({_size(event.total)})")
        elif event.event == "model_download_retry":
            self._line(f"{event.model}: {event.message}; retrying")
        elif event.event == "model_download_finished":
            self._draw(event, force=True)
            self._end_line()
        elif event.event == "model_download_failed":
            self._end_line()

    def _draw(self, event: ModelDownloadEvent, *, force: bool = False) -> None:
        text = format_bar(event)
        if self._tty:
            self._stream.write("\r" + text + "\x1b[K")
            self._drawn = True
        elif force or self._clock() - self._last_line >= self._line_interval_s:
            self._last_line = self._clock()
            self._stream.write(text + "\n")
        self._stream.flush()

    def _end_line(self) -> None:
        if self._drawn:
            self._stream.write("\n")
            self._stream.flush()
            self._drawn = False

    def _line(self, text: str) -> None:
        self._end_line()
        self._stream.write(text + "\n")
        self._stream.flush()


class JsonLinesProgress:
    """One JSON object per line: ``{"event": "model_download_progress", ...}``."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def __call__(self, event: ModelDownloadEvent) -> None:
        self._stream.write(json.dumps(event.to_json(), separators=(",", ":")) + "\n")
        self._stream.flush()
