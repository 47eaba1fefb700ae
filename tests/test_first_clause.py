"""The first clause of a reply goes to Piper on its own; everything else is whole sentences."""

from __future__ import annotations

from dataclasses import replace

import pytest
from livekit.agents import tts

from voice_sidecar.audio_files import read_speech
from voice_sidecar.converse.runner import Utterance, run_conversation
from voice_sidecar.persona import SessionRequest
from voice_sidecar.plugins.first_clause import FirstClauseTokenizer, first_clause_split
from voice_sidecar.runtime import SpeechRuntime
from voice_sidecar.session import build_session
from voice_sidecar.settings import Settings
from voice_sidecar.testing.llm_server import FakeLlmServer

from .conftest import SpeechFiles
from .speech import assert_heard
from .test_converse import _heard, _settings


@pytest.mark.parametrize(
    ("text", "words", "head"),
    [
        ("Here is a longer answer, so that you have time.", 4, "Here is a longer answer,"),
        ("Sure, here is a quick answer for you.", 4, None),
        ("Sure, here is a quick answer for you.", 1, "Sure,"),
        ("It costs 3,000 euros in total; that is a lot.", 4, "It costs 3,000 euros in total;"),
        ("The plan has three parts: food, water and clothes.", 4, "The plan has three parts:"),
        ("One two three four five", 4, None),
        ("One two three four,", 4, None),  # nothing after it yet: not a boundary
    ],
)
def test_first_clause_split(text: str, words: int, head: str | None) -> None:
    cut = first_clause_split(text, words)
    assert (text[:cut] if cut is not None else None) == head


async def _chunks(tokenizer: FirstClauseTokenizer, pieces: list[str]) -> list[str]:
    stream = tokenizer.stream()
    for piece in pieces:
        stream.push_text(piece)
    stream.end_input()
    return [data.token.strip() async for data in stream]


def _words(text: str) -> list[str]:
    return [w + " " for w in text.split()]


async def test_only_the_first_chunk_of_a_reply_is_a_clause() -> None:
    reply = (
        "Here is a longer answer, so that you have time to interrupt me. "
        "On Monday it stays dry, with a light wind from the west. Anything else?"
    )
    chunks = await _chunks(FirstClauseTokenizer(min_words=4), _words(reply))
    assert chunks == [
        "Here is a longer answer,",
        "so that you have time to interrupt me.",
        "On Monday it stays dry, with a light wind from the west.",
        "Anything else?",
    ]


async def test_a_reply_without_a_long_first_clause_is_cut_into_sentences() -> None:
    reply = "Sure, here is a quick answer for you. It is sunny."
    chunks = await _chunks(FirstClauseTokenizer(min_words=4), _words(reply))
    assert chunks == ["Sure, here is a quick answer for you.", "It is sunny."]


async def test_each_stream_is_a_new_reply() -> None:
    tokenizer = FirstClauseTokenizer(min_words=4)
    reply = "Here is a longer answer, so that you have time to interrupt me."
    first = await _chunks(tokenizer, _words(reply))
    second = await _chunks(tokenizer, _words(reply))
    assert first == second == ["Here is a longer answer,", "so that you have time to interrupt me."]


@pytest.mark.slow
async def test_a_reply_started_on_its_first_clause_still_sounds_like_the_reply(
    runtime: SpeechRuntime,
    speech_settings: Settings,
    speech: SpeechFiles,
    llm_server: FakeLlmServer,
) -> None:
    """Piper speaks the first clause and the rest of the sentence separately: transcribed
    back, the agent's audio still reads as the whole reply, in order."""
    reply = "Here is a longer answer, so that you have time to interrupt me. Anything else?"
    llm_server.behaviour.replies = [reply]
    settings = _settings(
        replace(speech_settings, tts=replace(speech_settings.tts, first_clause_min_words=4)),
        llm_server,
    )
    session, _ = build_session(runtime, settings, SessionRequest())
    assert isinstance(session.tts, tts.StreamAdapter)
    result = await run_conversation(
        runtime,
        settings,
        SessionRequest(),
        [Utterance(name="q", samples=read_speech(speech("Tell me about the weather.")))],
    )
    (turn,) = result.turns
    assert turn.agent_text == reply
    # all of it spoken, in order: a misheard word scores about 0.95, a repeated first clause
    # 0.87, a lost one 0.82
    assert_heard(await _heard(runtime, result, 0), reply, at_least=0.9)
