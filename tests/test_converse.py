"""Whole conversations through the real agent session: real models, real HTTP, real time."""

from __future__ import annotations

import asyncio
import socket
from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from voice_sidecar.audio_files import read_speech
from voice_sidecar.converse.runner import (
    ConversationResult,
    ConverseOptions,
    Utterance,
    run_conversation,
)
from voice_sidecar.persona import HistoryMessage, Persona, SessionRequest
from voice_sidecar.plugins.piper import PiperEngine
from voice_sidecar.runtime import SpeechRuntime
from voice_sidecar.settings import LlmSettings, Settings
from voice_sidecar.testing.llm_server import FakeLlmServer

from .conftest import SpeechFiles
from .speech import assert_heard, to_speech_rate

pytestmark = pytest.mark.slow

LONG_REPLY = (
    "Paris is the capital of France. It has been the country's capital for centuries. "
    "The city is famous for the Eiffel Tower, the Louvre museum and its cafes. "
    "Millions of visitors come every year to walk along the river Seine. "
    "Would you like to hear more about its history?"
)


def _words(text: str) -> set[str]:
    return {w.strip(".,?!'").lower() for w in text.split()}


def _settings(base: Settings, server: FakeLlmServer | None = None, **llm: Any) -> Settings:
    url = server.base_url if server else "http://127.0.0.1:9/v1"
    return replace(base, llm=replace(LlmSettings(base_url=url, model="fake-model"), **llm))


async def _heard(runtime: SpeechRuntime, result: ConversationResult, turn: int) -> str:
    """Transcribe what the agent said after the given user turn."""
    start = result.turns[turn].speech_end_s
    end = (
        result.turns[turn + 1].speech_start_s
        if turn + 1 < len(result.turns)
        else len(result.audio) / result.sample_rate
    )
    rate = result.sample_rate
    pcm = result.audio[int(start * rate) : int(end * rate)]
    assert np.abs(pcm).max() > 1000, "the agent's audio is silent"
    heard = await runtime.whisper.transcribe_async(
        to_speech_rate(pcm, rate), language="en", beam_size=1
    )
    return heard.text


def _utterance(speech: SpeechFiles, text: str) -> Utterance:
    return Utterance(name=text, samples=read_speech(speech(text)))


async def test_spoken_question_gets_a_spoken_answer(
    runtime: SpeechRuntime,
    speech_settings: Settings,
    speech: SpeechFiles,
    llm_server: FakeLlmServer,
) -> None:
    llm_server.behaviour.replies = ["The capital of France is Paris."]
    request = SessionRequest(
        persona=Persona(name="Ada", instructions="Answer geography questions briefly."),
        history=(
            HistoryMessage("user", "My name is Sam."),
            HistoryMessage("assistant", "Nice to meet you, Sam."),
        ),
    )
    result = await run_conversation(
        runtime,
        _settings(speech_settings, llm_server),
        request,
        [_utterance(speech, "What is the capital of France?")],
    )
    (turn,) = result.turns
    assert {"capital", "france"} <= _words(turn.user_transcript)
    assert turn.agent_text == "The capital of France is Paris."
    assert not turn.interrupted
    assert turn.first_audio_latency_s is not None
    assert 0.1 < turn.first_audio_latency_s < 5
    for value in (turn.stt_delay_s, turn.llm_ttft_s, turn.tts_ttfb_s):
        assert value is not None
        assert value > 0
    assert_heard(await _heard(runtime, result, 0), turn.agent_text)

    messages = llm_server.chat_requests()[-1].body["messages"]
    system = " ".join(str(m["content"]) for m in messages if m["role"] in ("system", "developer"))
    assert "Your name is Ada" in system
    assert "Answer geography questions briefly." in system
    texts = [(m["role"], str(m["content"])) for m in messages if m["role"] in ("user", "assistant")]
    assert texts[:2] == [("user", "My name is Sam."), ("assistant", "Nice to meet you, Sam.")]
    assert "france" in texts[-1][1].lower()


async def test_several_turns_in_a_row_keep_the_history(
    runtime: SpeechRuntime,
    speech_settings: Settings,
    speech: SpeechFiles,
    llm_server: FakeLlmServer,
) -> None:
    llm_server.behaviour.replies = ["It is sunny.", "Tomorrow it will rain.", "You are welcome."]
    questions = [
        "What is the weather like today?",
        "And what about tomorrow?",
        "Thank you very much.",
    ]
    result = await run_conversation(
        runtime,
        _settings(speech_settings, llm_server),
        SessionRequest(),
        [_utterance(speech, q) for q in questions],
    )
    assert [t.agent_text for t in result.turns] == [
        "It is sunny.",
        "Tomorrow it will rain.",
        "You are welcome.",
    ]
    assert "tomorrow" in _words(result.turns[1].user_transcript)
    last = llm_server.chat_requests()[-1].body["messages"]
    said = [str(m["content"]) for m in last if m["role"] == "assistant"]
    assert said == ["It is sunny.", "Tomorrow it will rain."]
    assert_heard(await _heard(runtime, result, 1), "Tomorrow it will rain.")


async def test_barge_in_stops_the_agent_and_keeps_only_what_was_said(
    runtime: SpeechRuntime,
    speech_settings: Settings,
    speech: SpeechFiles,
    llm_server: FakeLlmServer,
) -> None:
    llm_server.behaviour.replies = [LONG_REPLY, "Okay, I will stop."]
    result = await run_conversation(
        runtime,
        _settings(speech_settings, llm_server),
        SessionRequest(),
        [
            _utterance(speech, "Tell me about Paris."),
            _utterance(speech, "Stop, that is enough, thank you."),
        ],
        ConverseOptions(barge_in_after_s=1.0),
    )
    first, second = result.turns
    assert first.interrupted
    assert second.barge_in_reaction_s is not None
    assert second.barge_in_reaction_s < 0.8
    # the agent's audio for the long reply stopped early...
    assert first.agent_audio_s < 4.0
    # ...and the history holds only the words that were played
    assert first.agent_text
    assert len(first.agent_text) < len(LONG_REPLY) / 2
    assert LONG_REPLY.startswith(first.agent_text.rstrip(".").split(" It")[0])
    assert second.agent_text == "Okay, I will stop."
    stored = [
        item
        for item in result.history
        if item.get("role") == "assistant" and item.get("interrupted")
    ]
    assert len(stored) == 1
    messages = llm_server.chat_requests()[-1].body["messages"]
    said = [str(m["content"]) for m in messages if m["role"] == "assistant"]
    assert said
    assert LONG_REPLY not in said


@pytest.mark.parametrize(
    ("behaviour", "spoken"),
    [
        ({"fail_status": 500, "fail_count": 2}, "had a problem"),
        ({"hang": True}, "took too long"),
    ],
)
async def test_llm_failure_is_apologised_for_and_the_session_survives(
    runtime: SpeechRuntime,
    speech_settings: Settings,
    speech: SpeechFiles,
    llm_server: FakeLlmServer,
    behaviour: dict[str, object],
    spoken: str,
) -> None:
    """Both attempts of turn one fail (one retry); turn two must be answered normally."""
    for key, value in behaviour.items():
        setattr(llm_server.behaviour, key, value)
    settings = _settings(speech_settings, llm_server, timeout_s=1.0, max_retries=1)

    async def heal_after_two_attempts() -> None:
        while len(llm_server.chat_requests()) < 2:
            await asyncio.sleep(0.05)
        await asyncio.sleep(1.5)  # the second attempt times out 1 s after it was sent
        llm_server.behaviour.hang = False

    healer = asyncio.create_task(heal_after_two_attempts())
    try:
        result = await run_conversation(
            runtime,
            settings,
            SessionRequest(),
            [_utterance(speech, "What time is it?"), _utterance(speech, "Are you there?")],
        )
    finally:
        healer.cancel()
    first, second = result.turns
    assert spoken in first.agent_text
    assert first.first_audio_latency_s is not None, "the apology was not spoken"
    assert_heard(await _heard(runtime, result, 0), first.agent_text)
    assert second.agent_text.startswith("You said:")
    assert second.first_audio_latency_s is not None


async def test_refused_connection_is_apologised_for(
    runtime: SpeechRuntime, speech_settings: Settings, speech: SpeechFiles
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = replace(
        speech_settings,
        llm=LlmSettings(base_url=f"http://127.0.0.1:{port}/v1", max_retries=0, timeout_s=1.0),
    )
    result = await run_conversation(
        runtime, settings, SessionRequest(), [_utterance(speech, "Hello, can you hear me?")]
    )
    (turn,) = result.turns
    assert "can't reach the language model" in turn.agent_text
    assert_heard(await _heard(runtime, result, 0), turn.agent_text)


async def test_missing_nebius_key_is_spoken_without_calling_out(
    runtime: SpeechRuntime,
    speech_settings: Settings,
    speech: SpeechFiles,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No key: the assistant says so, and no connection leaves the machine."""
    connections: list[object] = []
    real_connect = socket.socket.connect

    def spy(self: socket.socket, address: object) -> None:
        connections.append(address)
        real_connect(self, address)  # type: ignore[arg-type]

    monkeypatch.setattr(socket.socket, "connect", spy)
    settings = replace(speech_settings, llm=LlmSettings(api_key=None))
    assert settings.llm.missing_api_key
    result = await run_conversation(
        runtime, settings, SessionRequest(), [_utterance(speech, "What is on my calendar?")]
    )
    (turn,) = result.turns
    assert "no Nebius API key is set" in turn.agent_text
    assert_heard(await _heard(runtime, result, 0), turn.agent_text)
    outside = [
        a for a in connections if not (isinstance(a, tuple) and a[0] in ("127.0.0.1", "::1"))
    ]
    assert outside == []


async def test_reasoning_is_never_spoken(
    runtime: SpeechRuntime,
    speech_settings: Settings,
    speech: SpeechFiles,
    llm_server: FakeLlmServer,
) -> None:
    llm_server.behaviour.reasoning = "Secret chain of thought about bananas."
    llm_server.behaviour.replies = ["Your next meeting is at noon."]
    result = await run_conversation(
        runtime,
        _settings(speech_settings, llm_server),
        SessionRequest(),
        [_utterance(speech, "When is my next meeting?")],
    )
    (turn,) = result.turns
    assert turn.agent_text == "Your next meeting is at noon."
    heard = await _heard(runtime, result, 0)
    assert "bananas" not in _words(heard)
    assert_heard(heard, turn.agent_text)


async def test_a_pause_mid_sentence_does_not_end_the_turn(
    runtime: SpeechRuntime, speech_settings: Settings, piper: PiperEngine, llm_server: FakeLlmServer
) -> None:
    """With the default turn settings a 400 ms pause is not the end of the turn: one user
    turn, both halves in it, and the reply answers the whole sentence."""
    from voice_sidecar.bench.scenarios import _with_pause, piper_speaker

    samples = _with_pause(
        piper_speaker(piper), "I would like to know", "the weather tomorrow.", 0.4
    )
    result = await run_conversation(
        runtime,
        _settings(speech_settings, llm_server),
        SessionRequest(),
        [Utterance(name="pause", samples=samples)],
    )
    (turn,) = result.turns
    assert turn.user_messages == 1
    assert not turn.replied_during_speech
    words = _words(turn.user_transcript)
    assert {"know", "weather", "tomorrow"} <= words
    # a preemptive request on the first half may have been made and dropped; the reply
    # that was spoken answers the whole sentence
    last_user = [m for m in llm_server.chat_requests()[-1].body["messages"] if m["role"] == "user"]
    assert "weather" in str(last_user[-1]["content"]).lower()
    assert turn.agent_text.startswith("You said:")
    assert "weather" in turn.agent_text.lower()
