"""The text end-of-turn gate: which transcripts read as finished, and the framework's use of it."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from livekit.agents import llm
from livekit.agents.voice.turn import _TurnDetector

from voice_sidecar.bench import real_speech
from voice_sidecar.converse.runner import Utterance, run_conversation
from voice_sidecar.persona import SessionRequest
from voice_sidecar.plugins.text_turn import (
    FINISHED,
    OPEN,
    UNFINISHED,
    UNLIKELY_THRESHOLD,
    TextTurnDetector,
    end_of_turn_probability,
)
from voice_sidecar.runtime import SpeechRuntime
from voice_sidecar.session import turn_handling
from voice_sidecar.settings import LlmSettings, Settings, TurnSettings
from voice_sidecar.testing.llm_server import FakeLlmServer


@pytest.mark.parametrize(
    "text",
    [
        "Unless to be rather cold-hearted and rather selfish is",
        "Unless to be rather cold-hearted and rather selfish is.",  # Whisper's period on a half
        "Had he married a more amiable woman,",
        "Eight of spades,",
        "I want to",
        "Book a table for the",
        "Put it on my",
        "Call Anna and",
        "I'll be late because",
        "Send it to me if",
        "A cup of",
        "Tell me about the...",
        "Well, I was thinking -",
        "So I went there and um",
        "So I went there, uh.",
        "It could",
        "I think we can",  # an elliptical ending needs its full stop to read finished
        "WHAT WOULD YOU SAY IF",
        "and   ",
    ],
)
def test_a_turn_that_stops_on_a_function_word_a_comma_or_a_filler_reads_unfinished(
    text: str,
) -> None:
    """Guards against answering half a sentence that the words themselves leave open."""
    assert end_of_turn_probability(text) == UNFINISHED < UNLIKELY_THRESHOLD


@pytest.mark.parametrize(
    "text",
    [
        "Go forward ten meters.",
        "What is the capital of France?",
        "Turn it on.",
        "Do it!",
        "Can you?",  # a short question may end on an auxiliary
        "What is it for?",
        "Tell me more.",
        "He was not an ill disposed young man.",
        "He might have been made still more respectable than he was.",  # ellipsis after "he"
        "Yes, I do.",
    ],
)
def test_a_turn_with_terminal_punctuation_on_a_content_word_reads_finished(text: str) -> None:
    """Guards against making every finished turn wait the long delay."""
    assert end_of_turn_probability(text) == FINISHED


@pytest.mark.parametrize("text", ["Go forward ten meters", "ten of clubs", "Thank you very much"])
def test_a_turn_without_punctuation_on_a_content_word_still_reads_finished(text: str) -> None:
    assert UNLIKELY_THRESHOLD < end_of_turn_probability(text) == OPEN < FINISHED


@pytest.mark.parametrize("text", ["", "   ", "..."])
def test_an_empty_transcript_reads_unfinished(text: str) -> None:
    assert end_of_turn_probability(text) == UNFINISHED


def _chat(*messages: tuple[str, str]) -> llm.ChatContext:
    chat = llm.ChatContext.empty()
    for role, text in messages:
        chat.add_message(role=role, content=text)  # type: ignore[arg-type]
    return chat


async def test_the_detector_scores_the_last_user_message_for_the_framework() -> None:
    detector: _TurnDetector = TextTurnDetector()  # mypy checks it meets the framework's protocol
    chat = _chat(("user", "What time is it?"), ("assistant", "It is noon."), ("user", "And the"))
    assert await detector.predict_end_of_turn(chat) == UNFINISHED
    assert await detector.unlikely_threshold(None) == UNLIKELY_THRESHOLD
    assert await detector.predict_end_of_turn(_chat(("user", "Thanks."))) == FINISHED
    assert await detector.predict_end_of_turn(_chat(("assistant", "Hello."))) == UNFINISHED
    assert await detector.supports_language(None)


def test_the_session_uses_the_gate_only_when_the_setting_asks_for_it() -> None:
    assert turn_handling(TurnSettings(end_of_turn="vad"))["turn_detection"] == "vad"
    assert isinstance(
        turn_handling(TurnSettings(end_of_turn="text"))["turn_detection"], TextTurnDetector
    )


@pytest.mark.slow
@pytest.mark.real_speech
async def test_a_real_sentence_with_a_1_s_pause_after_is_stays_one_turn(
    runtime: SpeechRuntime, speech_settings: Settings, real_speech_dir: Path
) -> None:
    """A reader's 'Unless to be rather cold-hearted and rather selfish is | to be
    ill-disposed' with 1.0 s of dead air: the VAD's 0.55 s silence alone answers the first
    half (docs/benchmarks.md, 8/10 such sentences cut off); the gate must hold the turn."""
    cut = next(c for c in real_speech.HALTING_CUTS if c.recording == "austen-0890")
    server = FakeLlmServer().start()
    try:
        settings = replace(
            speech_settings,
            llm=LlmSettings(base_url=server.base_url, model="fake-model", max_retries=0),
            turn=replace(speech_settings.turn, end_of_turn="text"),
        )
        result = await run_conversation(
            runtime,
            settings,
            SessionRequest(),
            [Utterance(name="halting", samples=real_speech.halting(real_speech_dir, cut, 1.0))],
        )
    finally:
        server.stop()
    (turn,) = result.turns
    assert turn.user_messages == 1, f"the pause split the turn: {turn.user_transcript!r}"
    assert not turn.replied_during_speech, "the agent answered the first half"
    after_pause = turn.user_transcript.lower().partition("selfish")[2]
    assert "to be" in after_pause, f"the second half is missing: {turn.user_transcript!r}"
