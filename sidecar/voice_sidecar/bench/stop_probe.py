"""How long the room's audio output keeps its source playing after a pause: LiveKit Agents'
own output against ``room_audio.PromptPauseAudioOutput``, on a real ``rtc.AudioSource``
(the LiveKit FFI plays its queue in real time with no room connected).

``python -m voice_sidecar.bench.stop_probe [PAUSES]`` prints, per output and for the TTS
ahead of the playout (frames waiting) and behind it (the forwarding task waiting for a
frame), the time from ``pause()`` until the source's queue is empty.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import time
from typing import Any

import numpy as np
from livekit import rtc
from livekit.agents.voice.room_io import _output as framework_output

from voice_sidecar.room_audio import PromptPauseAudioOutput

RATE = 24_000
FRAME_S = 0.05
_RNG = np.random.default_rng(7)


def _tone(seconds: float) -> list[rtc.AudioFrame]:
    samples = int(FRAME_S * RATE)
    t = np.arange(samples) / RATE
    pcm = (np.sin(2 * np.pi * 220 * t) * 8000).astype(np.int16).tobytes()
    return [rtc.AudioFrame(pcm, RATE, 1, samples) for _ in range(round(seconds / FRAME_S))]


async def pause_to_silence(kind: type[Any], *, tts_behind: bool) -> float:
    """Seconds from ``pause()`` until the output's source holds no audio."""
    output = kind(
        rtc.Room(),
        sample_rate=RATE,
        num_channels=1,
        track_publish_options=rtc.TrackPublishOptions(),
    )
    # what start() does, less publishing the track
    output._subscribed_fut.set_result(None)
    output._forwarding_task = asyncio.create_task(output._forward_audio())
    try:
        for frame in _tone(0.5 if tts_behind else 3.0):
            await output.capture_frame(frame)
        await asyncio.sleep(0.33 if tts_behind else float(_RNG.uniform(0.3, 1.0)))
        paused = time.monotonic()
        output.pause()
        # the source's own estimate; nothing signals when it drops to zero
        while output._audio_source.queued_duration > 0:  # noqa: ASYNC110
            await asyncio.sleep(0.001)
        return time.monotonic() - paused
    finally:
        await output.aclose()


async def probe(pauses: int) -> dict[tuple[str, bool], list[float]]:
    kinds: tuple[type[Any], type[Any]] = (
        framework_output._ParticipantAudioOutput,
        PromptPauseAudioOutput,
    )
    results: dict[tuple[str, bool], list[float]] = {}
    for number in range(pauses):
        for behind in (False, True):
            for kind in kinds if number % 2 == 0 else kinds[::-1]:  # interleaved
                took = await pause_to_silence(kind, tts_behind=behind)
                results.setdefault((kind.__name__, behind), []).append(took)
    return results


def main() -> None:
    pauses = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    if hasattr(os, "getloadavg"):  # not on Windows
        print("load average before: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    for (name, behind), took in sorted(asyncio.run(probe(pauses)).items()):
        took.sort()
        median, p90 = statistics.median(took), took[int(0.9 * len(took)) - 1]
        print(
            f"{name:28} TTS {'behind' if behind else 'ahead '}: median {median * 1000:.1f} ms, "
            f"p90 {p90 * 1000:.1f} ms, max {took[-1] * 1000:.1f} ms (n={len(took)})"
        )


if __name__ == "__main__":
    main()
