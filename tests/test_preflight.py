"""The speculative transcript as a preflight: the LLM and Piper work during the turn's
silence, and nothing of it is heard unless the turn ends as the preflight read it.

Real Whisper tiny.en, real Silero, real Piper, recordings of real people; the LLM is the
local stand-in, which echoes the last user message ("You said: ...").
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest
from livekit.agents import AgentSession, AgentStateChangedEvent, UserInputTranscribedEvent

from voice_sidecar import session as session_module
from voice_sidecar.bench import real_speech
from voice_sidecar.converse import runner
from voice_sidecar.converse.runner import ConversationResult, Utterance, run_conversation
from voice_sidecar.persona import SessionRequest
from voice_sidecar.plugins.piper import PiperEngine
from voice_sidecar.plugins.speculative_stt import SpeculativeSTT
from voice_sidecar.runtime import SpeechRuntime
from voice_sidecar.session import build_session, turn_handling
from voice_sidecar.settings import LlmSettings, Settings, TurnSettings
from voice_sidecar.testing.llm_server import FakeLlmServer, _content_text


@dataclass
class Timeline:
    """When each transcript reached the session and when Piper was asked for each text."""

    transcripts: list[tuple[float, bool, str]] = field(default_factory=list)
    synthesized: list[tuple[float, str]] = field(default_factory=list)
    speaking: list[float] = field(default_factory=list)
    """When the agent started speaking (its first audio frame played)."""
    stale: list[float] = field(default_factory=list)
    """When the speculative STT said the user went on after a preflight."""

    def final_at(self) -> float:
        return next(at for at, final, _ in self.transcripts if final)

    def preflights(self) -> list[tuple[float, str]]:
        return [(at, text) for at, final, text in self.transcripts if not final]


@pytest.fixture
def timeline(
    monkeypatch: pytest.MonkeyPatch, runtime: SpeechRuntime, piper: PiperEngine
) -> Timeline:
    recorded = Timeline()

    def observed_build(*args: Any, **kwargs: Any) -> Any:
        session: AgentSession[None]
        session, agent = build_session(*args, **kwargs)

        def on_transcript(event: UserInputTranscribedEvent) -> None:
            recorded.transcripts.append((time.time(), event.is_final, event.transcript))

        def on_state(event: AgentStateChangedEvent) -> None:
            if event.new_state == "speaking":
                recorded.speaking.append(time.time())

        session.on("user_input_transcribed", on_transcript)
        session.on("agent_state_changed", on_state)
        assert isinstance(session.stt, SpeculativeSTT)
        session.stt.on("preflight_stale", lambda: recorded.stale.append(time.time()))
        return session, agent

    synthesize = piper.synthesize_chunks

    def observed_synthesize(text: str, **kwargs: Any) -> Any:
        recorded.synthesized.append((time.time(), text))
        return synthesize(text, **kwargs)

    monkeypatch.setattr(runner, "build_session", observed_build)
    monkeypatch.setattr(piper, "synthesize_chunks", observed_synthesize)
    return recorded


def _turn_silence(
    runtime: SpeechRuntime, monkeypatch: pytest.MonkeyPatch, silence_s: float
) -> None:
    """The session's VAD (and so the speculative STT's turn VAD) with a longer silence: the
    runtime loads Silero once, so the setting alone does not reach a loaded runtime."""
    from livekit.plugins import silero

    vad = silero.VAD.load(
        min_silence_duration=silence_s,
        activation_threshold=runtime.settings.turn.vad_activation_threshold,
        force_cpu=True,
    )
    monkeypatch.setattr(runtime, "vad", vad)


def _words(text: str) -> list[str]:
    return [w.strip(".,?!'\"").lower() for w in text.split() if w.strip(".,?!'\"")]


def _user_texts(server: FakeLlmServer) -> list[str]:
    texts = []
    for request in server.chat_requests():
        messages = request.body.get("messages", [])
        user = [m for m in messages if m.get("role") == "user"]
        texts.append(_content_text(user[-1].get("content")) if user else "")
    return texts


async def _converse(
    runtime: SpeechRuntime, settings: Settings, server: FakeLlmServer, samples: Any
) -> ConversationResult:
    settings = replace(
        settings,
        llm=LlmSettings(base_url=server.base_url, model="fake-model", max_retries=0),
    )
    return await run_conversation(
        runtime, settings, SessionRequest(), [Utterance(name="turn", samples=samples)]
    )


def test_preemptive_tts_is_the_setting() -> None:
    assert turn_handling(TurnSettings())["preemptive_generation"] == {
        "enabled": True,
        "preemptive_tts": True,
    }
    options = turn_handling(TurnSettings(preemptive_tts=False))["preemptive_generation"]
    assert options.get("preemptive_tts") is False


@pytest.mark.slow
@pytest.mark.real_speech
async def test_the_reply_is_made_during_the_wait_and_played_only_after_the_commit(
    runtime: SpeechRuntime,
    speech_settings: Settings,
    real_speech_dir: Path,
    llm_server: FakeLlmServer,
    timeline: Timeline,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A finished real turn ("ten of clubs") with a 3.0 s turn silence, so the wait hides
    the work even on a loaded 2-core machine (Whisper up to 2 s at a load of 10): the
    preflight must reach the LLM and Piper before the final transcript, the reply must be
    the one made for the preflight (no second request), and its audio must not play
    before the turn is committed."""
    _turn_silence(runtime, monkeypatch, 3.0)
    settings = replace(speech_settings, turn=replace(speech_settings.turn, preemptive_tts=True))
    samples = real_speech.load(real_speech_dir, "ten-of-clubs")
    result = await _converse(runtime, settings, llm_server, samples)

    (turn,) = result.turns
    final_at = timeline.final_at()
    preflights = timeline.preflights()
    assert preflights, f"no preflight transcript before the final: {timeline.transcripts}"
    assert preflights[-1][0] < final_at
    assert _words(preflights[-1][1]) == _words(turn.user_transcript)

    requests = llm_server.chat_requests()
    assert len(requests) == len(preflights), "the commit made a new request: preflight unused"
    assert requests[-1].received_at < final_at, "the LLM started only at the commit"
    reply = [at for at, text in timeline.synthesized if "clubs" in text.lower()]
    assert reply, "Piper never made the reply"
    assert reply[0] < final_at, "Piper started only at the commit"

    assert timeline.speaking, "the agent never spoke"
    assert timeline.speaking[0] >= final_at, "the held reply played before the commit"
    assert turn.user_messages == 1
    assert "clubs" in turn.agent_text.lower()


@pytest.mark.slow
@pytest.mark.real_speech
async def test_a_resumed_halting_sentence_gets_one_reply_and_nothing_for_its_first_half(
    runtime: SpeechRuntime,
    speech_settings: Settings,
    real_speech_dir: Path,
    llm_server: FakeLlmServer,
    timeline: Timeline,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """ "Go forward | ten meters" with 3.0 s of dead air and a 3.2 s turn silence: the pause
    is long enough, on a loaded 2-core machine too (Whisper up to 2 s for this audio at a
    load of 10), for a preflight of "Go forward", so the LLM and Piper answer the first half in
    advance; the user goes on, and that reply must be dropped unheard: one user turn, one
    reply (to the whole sentence), nothing in the history about the half."""
    _turn_silence(runtime, monkeypatch, 3.2)
    settings = replace(speech_settings, turn=replace(speech_settings.turn, preemptive_tts=True))
    cut = next(c for c in real_speech.HALTING_CUTS if c.recording == "go-forward")
    samples = real_speech.halting(real_speech_dir, cut, 3.0)
    result = await _converse(runtime, settings, llm_server, samples)

    halves = [t for t in _user_texts(llm_server) if "meters" not in _words(t)]
    assert halves, f"no preflight of the first half reached the LLM: {timeline.transcripts}"
    assert any(
        "forward" in text.lower() and "meters" not in _words(text)
        for _, text in timeline.synthesized
    ), "Piper never made the half's reply"
    assert timeline.stale, "the user's going on was not reported: the half's reply ran on"
    assert timeline.stale[0] < timeline.final_at()

    (turn,) = result.turns
    assert turn.user_messages == 1, f"the pause split the turn: {turn.user_transcript!r}"
    assert not turn.replied_during_speech, "the reply to the first half was heard"
    replies = [i for i in result.history if i.get("role") == "assistant"]
    assert len(replies) == 1, replies
    assert "meters" in _words(turn.agent_text), f"not a reply to the whole: {turn.agent_text!r}"
    assert len(timeline.speaking) == 1, "the agent started speaking more than once"


@pytest.mark.slow
@pytest.mark.real_speech
async def test_the_user_going_on_drops_the_half_reply_at_once(
    runtime: SpeechRuntime,
    speech_settings: Settings,
    real_speech_dir: Path,
    llm_server: FakeLlmServer,
    monkeypatch: pytest.MonkeyPatch,
    timeline: Timeline,
) -> None:
    """The framework keeps a preemptive reply running until the commit; the session must
    cancel it when the user speaks again. The LLM writes slowly here (a token every second),
    so its first sentence is not complete when the user resumes: once cancelled, Piper
    never voices it."""
    cancelled: list[float] = []
    original = session_module.drop_stale_preemption

    def observed_drop(session: AgentSession[None]) -> None:
        activity = session._activity
        if activity is not None and activity._preemptive_generation is not None:
            cancelled.append(time.time())
        original(session)
        assert activity is None or activity._preemptive_generation is None

    monkeypatch.setattr(session_module, "drop_stale_preemption", observed_drop)
    _turn_silence(runtime, monkeypatch, 3.2)
    # a reply slow enough to be still in the making when the user resumes
    llm_server.behaviour.token_interval_s = 1.0
    settings = replace(speech_settings, turn=replace(speech_settings.turn, preemptive_tts=True))
    cut = next(c for c in real_speech.HALTING_CUTS if c.recording == "go-forward")
    result = await _converse(
        runtime, settings, llm_server, real_speech.halting(real_speech_dir, cut, 3.0)
    )

    assert cancelled, "no preemptive reply was running when the user went on"
    assert timeline.stale
    half_replies = [t for _, t in timeline.synthesized if "forward" in t.lower()]
    assert all("meters" in _words(t) for t in half_replies), f"Piper voiced: {half_replies}"
    (turn,) = result.turns
    assert turn.user_messages == 1
    assert "meters" in _words(turn.agent_text), turn.agent_text
