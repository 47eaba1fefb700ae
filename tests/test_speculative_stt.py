"""Whisper during the end-of-turn silence (``SpeculativeSTT``): early, and still one turn."""

from __future__ import annotations

from dataclasses import replace

import pytest
from livekit import rtc

from voice_sidecar.bench.scenarios import _with_pause, piper_speaker
from voice_sidecar.converse.runner import Utterance, run_conversation
from voice_sidecar.persona import SessionRequest
from voice_sidecar.plugins.piper import PiperEngine
from voice_sidecar.plugins.speculative_stt import SpeculativeSTT, TurnAudio
from voice_sidecar.runtime import SpeechRuntime
from voice_sidecar.session import build_session
from voice_sidecar.settings import LlmSettings, Settings
from voice_sidecar.testing.llm_server import FakeLlmServer


def _frame(seconds: float = 0.02, rate: int = 16000) -> rtc.AudioFrame:
    samples = int(seconds * rate)
    return rtc.AudioFrame(b"\0\0" * samples, rate, 1, samples)


def _seconds(frames: list[rtc.AudioFrame]) -> float:
    return round(sum(f.duration for f in frames), 3)


def test_between_turns_only_the_preroll_is_kept() -> None:
    audio = TurnAudio(preroll_s=0.1)
    for _ in range(20):
        audio.append(_frame())
    assert _seconds(audio.snapshot()) == 0.1


def test_a_turn_keeps_all_its_audio_until_it_ends() -> None:
    audio = TurnAudio(preroll_s=0.1)
    for _ in range(10):
        audio.append(_frame())
    audio.speech_started()
    audio.turn_active = True
    for _ in range(30):
        audio.append(_frame())
    audio.segment_active = False  # a pause: the turn goes on, nothing is dropped
    for _ in range(10):
        audio.append(_frame())
    assert _seconds(audio.snapshot()) == 0.1 + 0.8
    audio.turn_ended()
    assert _seconds(audio.snapshot()) == 0.1


def test_each_start_of_speech_is_a_new_epoch() -> None:
    """A speculation is reused only if no speech started after it."""
    audio = TurnAudio(preroll_s=0.1)
    audio.speech_started()
    first = audio.epoch
    audio.segment_active = False
    audio.speech_started()
    assert audio.epoch == first + 1


@pytest.fixture
def speculating_runtime(runtime: SpeechRuntime, monkeypatch: pytest.MonkeyPatch) -> SpeechRuntime:
    """The shared runtime with a 0.25 s segment VAD, whatever the default is."""
    from livekit.plugins import silero

    segment_vad = silero.VAD.load(
        min_silence_duration=0.25,
        activation_threshold=runtime.settings.turn.vad_activation_threshold,
        force_cpu=True,
    )
    monkeypatch.setattr(runtime, "segment_vad", segment_vad)
    return runtime


async def test_a_segment_vad_makes_the_session_speculate(
    speculating_runtime: SpeechRuntime, speech_settings: Settings
) -> None:
    session, _ = build_session(speculating_runtime, speech_settings, SessionRequest())
    assert isinstance(session.stt, SpeculativeSTT)


@pytest.mark.slow
@pytest.mark.parametrize("pause_s", [0.3, 0.6])
async def test_a_paused_sentence_is_one_user_turn_when_whisper_starts_early(
    speculating_runtime: SpeechRuntime,
    speech_settings: Settings,
    piper: PiperEngine,
    llm_server: FakeLlmServer,
    pause_s: float,
) -> None:
    """Regression: with ``stt.StreamAdapter`` behind the 0.25 s segment VAD, a sentence with
    a pause became two user messages (and at 600 ms no reply to the whole sentence)."""
    samples = _with_pause(
        piper_speaker(piper), "I would like to know", "the weather tomorrow.", pause_s
    )
    settings = replace(
        speech_settings,
        llm=LlmSettings(base_url=llm_server.base_url, model="fake-model", max_retries=0),
    )
    result = await run_conversation(
        speculating_runtime, settings, SessionRequest(), [Utterance(name="pause", samples=samples)]
    )
    (turn,) = result.turns
    user_messages = [item for item in result.history if item.get("role") == "user"]
    assert len(user_messages) == 1, user_messages
    assert turn.user_messages == 1
    assert not turn.replied_during_speech
    words = {w.strip(".,?!'").lower() for w in turn.user_transcript.split()}
    assert {"know", "weather", "tomorrow"} <= words
    assert "weather" in turn.agent_text.lower()


def test_a_turn_that_never_ends_keeps_at_most_max_s() -> None:
    audio = TurnAudio(preroll_s=0.1, max_s=0.5)
    audio.turn_active = True
    for _ in range(100):
        audio.append(_frame())
    assert _seconds(audio.snapshot()) == 0.5
