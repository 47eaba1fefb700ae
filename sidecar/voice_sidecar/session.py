"""One conversation: an AgentSession wired to the shared speech runtime."""

from __future__ import annotations

from typing import Any

from livekit.agents import AgentSession, stt, tts
from livekit.agents.voice.agent_session import SessionConnectOptions
from livekit.agents.voice.turn import TurnHandlingOptions

from .agent import AssistantAgent
from .llm_client import build_llm, llm_conn_options
from .persona import SessionRequest
from .plugins.first_clause import FirstClauseTokenizer
from .plugins.piper import PiperEngine, PiperTTS
from .plugins.speculative_stt import SpeculativeSTT
from .plugins.text_turn import TextTurnDetector
from .plugins.whisper import FasterWhisperSTT
from .runtime import SpeechRuntime
from .settings import Settings, TtsSettings, TurnSettings


def turn_handling(turn: TurnSettings) -> TurnHandlingOptions:
    """Explicit turn handling: VAD end of turn (gated by the transcript's text when
    ``end_of_turn`` is "text"), VAD barge-in, no cloud or audio EOU model."""
    return TurnHandlingOptions(
        turn_detection=TextTurnDetector() if turn.end_of_turn == "text" else "vad",
        endpointing={
            "mode": "fixed",
            "min_delay": turn.min_endpointing_delay_s,
            "max_delay": turn.max_endpointing_delay_s,
        },
        interruption={
            "enabled": True,
            "mode": "vad",
            "min_duration": turn.min_interruption_s,
            "resume_false_interruption": turn.false_interruption_timeout_s is not None,
            "false_interruption_timeout": turn.false_interruption_timeout_s,
        },
        preemptive_generation={
            "enabled": turn.preemptive_generation,
            "preemptive_tts": turn.preemptive_tts,
        },
    )


def speech_segmenter(
    whisper: FasterWhisperSTT, runtime: SpeechRuntime, turn: TurnSettings
) -> stt.STT[Any]:
    """Whisper that starts early when a shorter segment silence is configured.

    The session's VAD still decides when the turn ends (``vad_min_silence_s``), so a
    mid-sentence pause does not end it; but Whisper already transcribes the turn so far
    after the shorter silence, and the final transcript is emitted at the turn's end
    (``SpeculativeSTT``). Without it, the framework's ``stt.StreamAdapter`` starts
    Whisper only once the turn's silence has passed.
    """
    if runtime.segment_vad is None:
        return whisper
    return SpeculativeSTT(
        wrapped=whisper,
        turn_vad=runtime.vad,
        segment_vad=runtime.segment_vad,
        resume_grace_s=turn.stt_resume_grace_s,
        preflight=turn.stt_preflight,
    )


def drop_stale_preemption(session: AgentSession[None]) -> None:
    """Drop the reply being made for a preflight once the user speaks again.

    LiveKit Agents 1.8.9 drops it only at the commit (words differ) or on an interim
    transcript, which Whisper does not give; until then Piper (``preemptive_tts``) would voice
    an answer to half a sentence, competing with Whisper for the CPU while the user talks.
    """
    activity = session._activity
    if activity is not None:
        activity._cancel_preemptive_generation()


def speech_synthesis(voice: PiperEngine, settings: TtsSettings) -> tts.TTS[Any]:
    """Piper behind a sentence splitter; the framework's own unless the first clause is cut."""
    piper = PiperTTS(engine=voice, speaking_rate=settings.speaking_rate)
    if not settings.first_clause_min_words:
        return piper
    return tts.StreamAdapter(
        tts=piper,
        sentence_tokenizer=FirstClauseTokenizer(min_words=settings.first_clause_min_words),
    )


def build_session(
    runtime: SpeechRuntime, settings: Settings, request: SessionRequest
) -> tuple[AgentSession[None], AssistantAgent]:
    """A session on the shared models; ``settings`` carries this session's LLM and turn options."""
    voice = runtime.voice(request.persona.voice)
    whisper = FasterWhisperSTT(
        engine=runtime.whisper,
        language=request.persona.language or settings.stt.language,
        beam_size=settings.stt.beam_size,
        window_s=settings.stt.window_s,
    )
    session: AgentSession[None] = AgentSession(
        stt=speech_segmenter(whisper, runtime, settings.turn),
        vad=runtime.vad,
        llm=build_llm(settings.llm),
        tts=speech_synthesis(voice, settings.tts),
        turn_handling=turn_handling(settings.turn),
        aec_warmup_duration=settings.turn.aec_warmup_s or None,
        user_away_timeout=None,
        # the transcript synchronizer paces the reply's text by each sentence's real audio
        # (the TTS adapter stamps every sentence with where its audio starts) instead of an
        # estimated speaking rate, which ran ~1 s ahead at a barge-in: the history keeps
        # what was heard (docs/benchmarks.md, "the queue dropped at the pause")
        use_tts_aligned_transcript=True,
        conn_options=SessionConnectOptions(llm_conn_options=llm_conn_options(settings.llm)),
    )
    if isinstance(session.stt, SpeculativeSTT):
        session.stt.on("preflight_stale", lambda: drop_stale_preemption(session))
    agent = AssistantAgent(
        request=request,
        llm_settings=settings.llm,
        ignore_backchannels=settings.turn.ignore_backchannels,
    )
    return session, agent


async def close_session_llm(session: AgentSession[None]) -> None:
    """Close the LLM client built for this session (``build_session``): the framework opens
    a connection to the endpoint for every session (``LLM.prewarm``) and never closes the
    client, so the agent worker kept one descriptor per session until the garbage collector
    found it (fds 27 -> 33 over ten sessions). Whisper, Piper and Silero are shared by every
    session and stay open."""
    from livekit.agents import llm

    if isinstance(session.llm, llm.LLM):
        await session.llm.aclose()
