"""faster-whisper as an STT plugin, on real models and speech the tests synthesise."""

import asyncio
import time
from pathlib import Path

import numpy as np
from livekit import rtc
from livekit.agents import stt

from voice_sidecar.audio_files import read_speech
from voice_sidecar.plugins.piper import PiperEngine
from voice_sidecar.plugins.whisper import FasterWhisperSTT, frames_to_speech
from voice_sidecar.runtime import SpeechRuntime

from .conftest import SpeechFiles
from .speech import espeak_wav, piper_pcm


def _words(text: str) -> set[str]:
    return {w.strip(".,?!").lower() for w in text.split()}


async def test_recognize_transcribes_piper_speech(
    runtime: SpeechRuntime, speech: SpeechFiles
) -> None:
    plugin = FasterWhisperSTT(engine=runtime.whisper, language="en")
    audio = read_speech(speech("What is the capital of France?"))
    frame = rtc.AudioFrame(
        data=(audio * 32767).astype(np.int16).tobytes(),
        sample_rate=16_000,
        num_channels=1,
        samples_per_channel=len(audio),
    )
    event = await plugin.recognize(frame)
    assert event.type == stt.SpeechEventType.FINAL_TRANSCRIPT
    assert {"capital", "france"} <= _words(event.alternatives[0].text)


async def test_frames_at_48k_stereo_are_resampled(
    runtime: SpeechRuntime, piper: PiperEngine
) -> None:
    """Room audio arrives at 48 kHz; the plugin must not assume 16 kHz mono."""
    pcm = piper_pcm(piper, "Please turn on the kitchen lights.")
    mono16 = frames_to_speech(rtc.AudioFrame(pcm.tobytes(), piper.sample_rate, 1, len(pcm)))
    up = np.interp(np.arange(0, len(mono16), 1 / 3), np.arange(len(mono16)), mono16)
    stereo = np.repeat((up * 32767).astype(np.int16)[:, None], 2, axis=1)
    frames = [
        rtc.AudioFrame(chunk.tobytes(), 48_000, 2, len(chunk))
        for chunk in np.array_split(stereo, 50)
    ]
    plugin = FasterWhisperSTT(engine=runtime.whisper)
    event = await plugin.recognize(frames)
    assert {"kitchen", "lights"} <= _words(event.alternatives[0].text)


async def test_inference_does_not_block_the_event_loop(
    runtime: SpeechRuntime, speech: SpeechFiles
) -> None:
    audio = read_speech(speech("Set a timer for ten minutes, please."))
    frame = rtc.AudioFrame((audio * 32767).astype(np.int16).tobytes(), 16_000, 1, len(audio))
    plugin = FasterWhisperSTT(engine=runtime.whisper)
    gaps: list[float] = []

    async def heartbeat() -> None:
        last = time.perf_counter()
        while True:
            await asyncio.sleep(0.01)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    beat = asyncio.create_task(heartbeat())
    started = time.perf_counter()
    await plugin.recognize(frame)
    took = time.perf_counter() - started
    beat.cancel()
    assert took > 0.1, "inference was suspiciously fast; is the model running?"
    # a blocked loop would show one gap as long as the inference
    assert max(gaps) < took * 0.8


async def test_a_second_speaker_is_understood(runtime: SpeechRuntime, tmp_path: Path) -> None:
    path = espeak_wav("Good morning, what is the weather today?", tmp_path / "espeak.wav")
    if path is None:
        import pytest

        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng)")
    transcript = await runtime.whisper.transcribe_async(
        read_speech(path), language="en", beam_size=1
    )
    assert {"morning", "weather"} <= _words(transcript.text)


async def test_silence_gives_no_words(runtime: SpeechRuntime) -> None:
    transcript = await runtime.whisper.transcribe_async(
        np.zeros(16_000, dtype=np.float32), language="en", beam_size=1
    )
    assert len(transcript.text.split()) <= 2
