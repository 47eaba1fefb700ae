"""A microphone made of files: audio frames paced in real time.

Between utterances it sends silence (optionally with a noise floor), as a
real microphone would. ``say()`` queues one utterance and returns when it has
been sent, with the wall-clock times of its speech.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import numpy as np
from livekit import rtc
from livekit.agents.voice import io

from voice_sidecar.audio_files import SPEECH_SAMPLE_RATE, FloatAudio, float_to_int16

from .speech_span import find_speech_span

FRAME_S = 0.02
FRAME_SAMPLES = int(SPEECH_SAMPLE_RATE * FRAME_S)


@dataclass(frozen=True)
class SpokenUtterance:
    started_at: float
    """Wall-clock time (time.time()) the first frame of the file was sent."""
    speech_start_at: float
    speech_end_at: float
    """When the last loud frame of the file was sent: the end of the user's speech."""
    finished_at: float


@dataclass
class _Pending:
    samples: FloatAudio
    done: asyncio.Future[SpokenUtterance]
    position: int = 0
    started_at: float | None = None


class FileAudioInput(io.AudioInput):
    def __init__(self, *, noise_dbfs: float | None = None, seed: int = 0) -> None:
        super().__init__(label="file-input")
        self._queue: list[_Pending] = []
        self._next_due: float | None = None
        self._closed = False
        self._noise_amplitude = 0.0 if noise_dbfs is None else 10 ** (noise_dbfs / 20)
        self._rng = np.random.default_rng(seed)

    def say(self, samples: FloatAudio) -> asyncio.Future[SpokenUtterance]:
        """Queue 16 kHz mono speech; the future resolves once it has all been sent."""
        done: asyncio.Future[SpokenUtterance] = asyncio.get_running_loop().create_future()
        self._queue.append(_Pending(samples=samples, done=done))
        return done

    def close(self) -> None:
        self._closed = True

    async def __anext__(self) -> rtc.AudioFrame:
        if self._closed:
            raise StopAsyncIteration
        now = time.monotonic()
        if self._next_due is None or self._next_due < now - 0.2:
            # first frame, or the loop stalled: restart the clock rather than burst
            self._next_due = now
        delay = self._next_due - now
        if delay > 0:
            await asyncio.sleep(delay)
        self._next_due += FRAME_S
        return self._next_frame()

    def _next_frame(self) -> rtc.AudioFrame:
        chunk = np.zeros(FRAME_SAMPLES, dtype=np.float32)
        if self._queue:
            pending = self._queue[0]
            if pending.started_at is None:
                pending.started_at = time.time()
            piece = pending.samples[pending.position : pending.position + FRAME_SAMPLES]
            chunk[: len(piece)] = piece
            pending.position += FRAME_SAMPLES
            if pending.position >= len(pending.samples):
                self._queue.pop(0)
                self._finish(pending)
        if self._noise_amplitude:
            chunk += self._rng.normal(0.0, self._noise_amplitude, FRAME_SAMPLES).astype(np.float32)
        return rtc.AudioFrame(
            data=float_to_int16(chunk).tobytes(),
            sample_rate=SPEECH_SAMPLE_RATE,
            num_channels=1,
            samples_per_channel=FRAME_SAMPLES,
        )

    @staticmethod
    def _finish(pending: _Pending) -> None:
        assert pending.started_at is not None
        span = find_speech_span(pending.samples, SPEECH_SAMPLE_RATE)
        # the frame holding the last sample is being returned now
        finished = time.time() + FRAME_S
        result = SpokenUtterance(
            started_at=pending.started_at,
            speech_start_at=pending.started_at + span.start_s,
            speech_end_at=pending.started_at + span.end_s,
            finished_at=finished,
        )
        if not pending.done.done():
            pending.done.set_result(result)
