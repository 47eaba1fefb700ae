"""A speaker made of a file: plays agent audio in real time and records what was heard.

Playback is paced by the wall clock, so barge-in cuts the reply where a real
speaker would have been. Audio cleared before it played is never recorded.
Supports pause/resume, which the session uses to recover from false
interruptions.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np
from livekit import rtc
from livekit.agents.voice import io

from voice_sidecar.audio_files import Int16Audio

_SLICE_S = 0.01


@dataclass
class PlaybackSegment:
    """One reply segment as it was played."""

    started_at: float | None = None
    """time.time() of its first audible frame."""
    played_s: float = 0.0
    interrupted: bool = False
    silenced_at: float | None = None
    """First time.time() the audio stopped early: a pause (barge-in pending) or a clear."""
    resumed: bool = False
    """Paused by a barge-in that turned out false, then resumed."""
    resumed_at: float | None = None
    """time.time() of the first resume after a pause."""
    ended_at: float | None = None
    """time.time() when it finished playing or was dropped."""
    cleared_at: float | None = None
    """time.time() when the rest of it was dropped (the interruption taken for good)."""


@dataclass
class _Recording:
    sample_rate: int | None = None
    origin: float = 0.0
    chunks: list[tuple[float, Int16Audio]] = field(default_factory=list)


class FileAudioOutput(io.AudioOutput):
    def __init__(self, *, origin: float) -> None:
        super().__init__(
            label="file-output",
            capabilities=io.AudioOutputCapabilities(pause=True),
            next_in_chain=None,
            sample_rate=None,
        )
        self._slices: deque[rtc.AudioFrame] = deque()
        self._recording = _Recording(origin=origin)
        self._segment: PlaybackSegment | None = None
        self._flushed = False
        self._paused = False
        self._wake = asyncio.Event()
        self._player: asyncio.Task[None] | None = None
        self.segments: list[PlaybackSegment] = []

    # -- io.AudioOutput -------------------------------------------------------
    async def capture_frame(self, frame: rtc.AudioFrame) -> None:
        await super().capture_frame(frame)
        if self._segment is None:
            self._segment = PlaybackSegment()
            self.segments.append(self._segment)
            self._flushed = False
        if self._recording.sample_rate is None:
            self._recording.sample_rate = frame.sample_rate
        self._slices.extend(_slice(frame))
        self._ensure_player()
        self._wake.set()

    def flush(self) -> None:
        super().flush()
        if self._segment is None:
            return
        self._flushed = True
        self._wake.set()

    def clear_buffer(self) -> None:
        self._slices.clear()
        segment = self._segment
        if segment is None:
            return
        segment.interrupted = True
        if segment.cleared_at is None:
            segment.cleared_at = time.time()
        if segment.silenced_at is None:
            segment.silenced_at = time.time()
        self._wake.set()

    def pause(self) -> None:
        super().pause()
        self._paused = True
        segment = self._segment
        if segment is not None and segment.started_at is not None and segment.silenced_at is None:
            segment.silenced_at = time.time()

    def resume(self) -> None:
        super().resume()
        self._paused = False
        if self._segment is not None and self._segment.silenced_at is not None:
            self._segment.resumed = True
            if self._segment.resumed_at is None:
                self._segment.resumed_at = time.time()
        self._wake.set()

    # -- playback -------------------------------------------------------------
    def _ensure_player(self) -> None:
        if self._player is None or self._player.done():
            self._player = asyncio.create_task(self._play(), name="file-output-player")

    async def _play(self) -> None:
        next_due = time.monotonic()
        while True:
            segment = self._segment
            if segment is None:
                return
            if segment.interrupted and self._flushed:
                self._finish(segment)
                continue
            if self._paused or not self._slices:
                if self._flushed and not self._slices and not self._paused:
                    self._finish(segment)
                    continue
                self._wake.clear()
                await self._wake.wait()
                next_due = time.monotonic()
                continue
            piece = self._slices.popleft()
            if segment.started_at is None:
                segment.started_at = time.time()
                self.on_playback_started(created_at=segment.started_at)
            self._record(piece)
            segment.played_s += piece.duration
            next_due += piece.duration
            delay = next_due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)

    def _finish(self, segment: PlaybackSegment) -> None:
        segment.ended_at = time.time()
        self._segment = None
        self._flushed = False
        self.on_playback_finished(
            playback_position=segment.played_s, interrupted=segment.interrupted
        )

    def _record(self, piece: rtc.AudioFrame) -> None:
        pcm = np.frombuffer(piece.data, dtype=np.int16)
        if piece.num_channels > 1:
            pcm = pcm.reshape(-1, piece.num_channels).mean(axis=1).astype(np.int16)
        self._recording.chunks.append((time.time() - self._recording.origin, pcm.copy()))

    async def aclose(self) -> None:
        if self._player is not None:
            self._player.cancel()
            await asyncio.gather(self._player, return_exceptions=True)

    # -- results --------------------------------------------------------------
    @property
    def sample_rate_heard(self) -> int | None:
        return self._recording.sample_rate

    def timeline(self) -> Int16Audio:
        """Everything played, placed at the time it played (silence in between)."""
        rate = self._recording.sample_rate
        if rate is None or not self._recording.chunks:
            return np.zeros(0, dtype=np.int16)
        end = max(int(at * rate) + len(pcm) for at, pcm in self._recording.chunks)
        out = np.zeros(end, dtype=np.int16)
        cursor = 0
        for at, pcm in self._recording.chunks:
            # keep consecutive slices contiguous: timer jitter must not open gaps
            start = max(int(at * rate), 0)
            if 0 < start - cursor < int(0.05 * rate):
                start = cursor
            out[start : start + len(pcm)] = pcm
            cursor = start + len(pcm)
        return out


def _slice(frame: rtc.AudioFrame) -> list[rtc.AudioFrame]:
    step = max(1, int(frame.sample_rate * _SLICE_S))
    total = frame.samples_per_channel
    if total <= step:
        return [frame]
    data = np.frombuffer(frame.data, dtype=np.int16).reshape(-1, frame.num_channels)
    return [
        rtc.AudioFrame(
            data=data[i : i + step].tobytes(),
            sample_rate=frame.sample_rate,
            num_channels=frame.num_channels,
            samples_per_channel=len(data[i : i + step]),
        )
        for i in range(0, total, step)
    ]
