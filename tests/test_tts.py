"""Piper as a TTS plugin: audio at the voice's rate, sentence streaming, prompt cancellation."""

import asyncio
import threading
import time

import numpy as np
from livekit.agents import tts

from voice_sidecar.plugins.piper import PiperEngine, PiperTTS
from voice_sidecar.runtime import SpeechRuntime

from .speech import to_speech_rate

LONG_TEXT = " ".join(
    f"This is sentence number {n}, which keeps the voice busy for a while." for n in range(1, 13)
)


def _words(text: str) -> set[str]:
    return {w.strip(".,?!").lower() for w in text.split()}


async def _collect(stream: tts.ChunkedStream) -> np.ndarray:
    chunks = [np.frombuffer(ev.frame.data, dtype=np.int16) async for ev in stream]
    return np.concatenate(chunks)


async def test_synthesis_is_intelligible(runtime: SpeechRuntime, piper: PiperEngine) -> None:
    plugin = PiperTTS(engine=piper)
    assert plugin.sample_rate == 22_050
    async with plugin.synthesize("The meeting starts at nine tomorrow morning.") as stream:
        pcm = await _collect(stream)
    assert 1.5 < len(pcm) / plugin.sample_rate < 6
    heard = await runtime.whisper.transcribe_async(
        to_speech_rate(pcm, plugin.sample_rate), language="en", beam_size=1
    )
    assert {"meeting", "morning"} <= _words(heard.text)
    assert {"nine", "9"} & _words(heard.text)


async def test_speaking_rate_changes_duration(piper: PiperEngine) -> None:
    """Rate 1.5 scales phoneme lengths by 1/1.5; Piper's duration noise is averaged out."""
    text = "Speaking faster makes this sentence noticeably shorter than before."

    async def total(rate: float) -> int:
        samples = 0
        for _ in range(3):
            async with PiperTTS(engine=piper, speaking_rate=rate).synthesize(text) as stream:
                samples += len(await _collect(stream))
        return samples

    normal, fast = await total(1.0), await total(1.5)
    assert fast < normal * 0.8


async def test_cancelling_stops_synthesis_promptly(piper: PiperEngine) -> None:
    """Barge-in closes the stream: Piper must stop within one sentence, not finish the text."""
    plugin = PiperTTS(engine=piper)
    stream = plugin.synthesize(LONG_TEXT)
    first = await stream.__anext__()
    assert first.frame.samples_per_channel > 0
    started = time.perf_counter()
    await stream.aclose()
    close_s = time.perf_counter() - started
    # the voice's thread is free again once the sentence in flight is done
    probe_started = time.perf_counter()
    await asyncio.get_running_loop().run_in_executor(piper.executor, lambda: None)
    free_s = time.perf_counter() - probe_started
    full_s = _time_full_synthesis(piper)
    assert close_s < 0.2
    assert free_s < full_s / 4, f"thread busy {free_s:.2f}s; whole text takes {full_s:.2f}s"


def _time_full_synthesis(piper: PiperEngine) -> float:
    import threading

    started = time.perf_counter()
    for _ in piper.synthesize_chunks(LONG_TEXT, length_scale=None, stop=threading.Event()):
        pass
    return time.perf_counter() - started


async def test_first_sentence_plays_while_the_llm_is_still_writing(piper: PiperEngine) -> None:
    """With the framework's sentence adapter, audio for sentence one comes before sentence two
    has even been written."""
    adapter = tts.StreamAdapter(tts=PiperTTS(engine=piper))
    stream = adapter.stream()
    stream.push_text("Sure, here is the plan for today. ")
    stream.push_text("First")
    first_audio = await asyncio.wait_for(stream.__anext__(), timeout=10)
    assert first_audio.frame.samples_per_channel > 0
    stream.push_text(" we buy groceries, then we cook dinner together.")
    stream.end_input()
    rest = [ev async for ev in stream]
    assert sum(ev.frame.samples_per_channel for ev in rest) > piper.sample_rate
    await stream.aclose()


def test_deterministic_synthesis_repeats_itself_and_natural_synthesis_varies(
    piper: PiperEngine,
) -> None:
    def render(*, deterministic: bool) -> bytes:
        chunks = piper.synthesize_chunks(
            "Good morning.",
            length_scale=None,
            stop=threading.Event(),
            deterministic=deterministic,
        )
        return b"".join(chunks)

    assert render(deterministic=True) == render(deterministic=True)
    # Piper's default draws random intonation and timing: what the assistant says varies
    assert render(deterministic=False) != render(deterministic=False)


def test_the_voice_plans_no_memory_pattern_per_sentence_length(piper: PiperEngine) -> None:
    # issue 14: PiperVoice.load's default session options cache a memory plan for every input
    # shape (every sentence length): the voice's memory grew by ~45 MB more over four replies
    options = piper._voice.session.get_session_options()
    assert options.enable_mem_pattern is False
    assert options.enable_cpu_mem_arena is True  # without the arena synthesis took 20 % more CPU
