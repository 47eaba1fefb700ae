"""The bench's scenarios through a real room: a real ``up`` (livekit-server, the agent
worker) and a ``livekit.rtc`` participant that joins as the desktop app does.

Each scenario is one session (one room), as in the room-less run. The participant
measures what a user would hear: from the last loud 10 ms frame it handed to its
microphone track to the first loud frame of the agent's audio it received, after Opus
both ways, the agent's audio queue and the participant's jitter buffer. The agent's own
figures (``pa.latency``: STT, LLM, TTS, e2e) are kept beside them.

Turns are recorded with the keys of ``converse``'s ``TurnResult`` that
``measure.figures`` reads, so both runs reduce to figures the same way; what a room
cannot tell (Whisper's own inference time) is None. False interruptions are counted
for the noise-only turns only (a reply that goes quiet while the noise plays).
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Callable
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

from voice_sidecar.settings import Settings
from voice_sidecar.settings_loader import env_name

from .measure import BenchOptions, BenchResult, TurnRecord
from .process_tree import TreeFigures
from .room_participant import RoomParticipant, Spoken
from .room_stack import RoomStack, stack_env
from .scenarios import Scenario

LEAD_IN_S = 0.5
GAP_S = 0.8
"""Silence after a reply before the next turn starts (as ``converse``)."""
REPLY_START_TIMEOUT_S = 30.0
REPLY_TIMEOUT_S = 60.0
REPORT_TIMEOUT_S = 5.0
NOISE_WATCH_S = 3.0
QUIET_HOLD_S = 0.4
"""The agent has stopped talking once this long passes with no loud frame (Piper's pauses
between sentences are shorter)."""
ENV_SECTIONS = ("stt", "tts", "turn", "models")
"""The settings the room's agent takes from the bench's own (the LLM is the stand-in's)."""

Progress = Callable[[str], None]


def settings_env(settings: Settings) -> dict[str, str]:
    """The bench's speech and turn settings as ``up``'s environment, so that the agent in the
    room runs with what the room-less run used (command-line flags included)."""
    env: dict[str, str] = {}
    for section in ENV_SECTIONS:
        values = getattr(settings, section)
        for f in fields(values):
            if f.metadata.get("secret"):
                continue
            value = getattr(values, f.name)
            text = "" if value is None else str(value).lower() if isinstance(value, bool) else value
            env[env_name(section, f.name)] = str(text)
    return env


def _fixed_reply(text: str) -> Callable[[list[dict[str, Any]]], str]:
    def reply(_messages: list[dict[str, Any]]) -> str:
        return text

    return reply


async def _until(predicate: Callable[[], bool], limit_s: float) -> bool:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(0.02)
    return predicate()


async def _reply_done(participant: RoomParticipant, since: float) -> None:
    """Until the agent has answered speech that ended at ``since`` and gone quiet."""
    audio = participant.agent_audio
    if not await _until(lambda: audio.first_loud_after(since) is not None, REPLY_START_TIMEOUT_S):
        return
    first = audio.first_loud_after(since)
    assert first is not None
    # quiet from the reply's first sound on (before it, the wait for the reply is quiet too)
    await _until(lambda: audio.silent_from(first, hold_s=QUIET_HOLD_S) is not None, REPLY_TIMEOUT_S)
    # the turn's latency report is sent once the agent has seen its reply played out
    await _until(lambda: any(at >= since for at, _ in participant.latency), REPORT_TIMEOUT_S)


async def _barge_in_point(participant: RoomParticipant, since: float, after_s: float) -> None:
    """Until ``after_s`` of the reply to speech that ended at ``since`` has been heard."""
    audio = participant.agent_audio
    if not await _until(lambda: audio.first_loud_after(since) is not None, REPLY_START_TIMEOUT_S):
        return
    first = audio.first_loud_after(since)
    assert first is not None
    await asyncio.sleep(max(0.0, first + after_s - time.monotonic()))


async def converse_in_room(
    participant: RoomParticipant, scenario: Scenario
) -> tuple[list[Spoken], float]:
    """Play the scenario's turns into the room, paced like ``converse``; returns each turn's
    times and when the conversation ended."""
    await asyncio.sleep(LEAD_IN_S)
    spoken: list[Spoken] = []
    for index, utterance in enumerate(scenario.turns):
        if index > 0:
            previous = spoken[-1].speech_end_at
            if scenario.barge_in_after_s is not None:
                await _barge_in_point(participant, previous, scenario.barge_in_after_s)
            else:
                await _reply_done(participant, previous)
                await asyncio.sleep(GAP_S)
        spoken.append(await participant.say(utterance.samples))
    if scenario.turns[-1].noise_only:
        await asyncio.sleep(NOISE_WATCH_S)
    else:
        await _reply_done(participant, spoken[-1].speech_end_at)
    return spoken, time.monotonic()


def room_turns(
    participant: RoomParticipant, scenario: Scenario, spoken: list[Spoken]
) -> list[dict[str, Any]]:
    """Each turn as ``measure.figures`` reads it, from what the participant received."""
    audio = participant.agent_audio
    me = participant.room.local_participant.identity
    reports = list(participant.latency)
    used: set[int] = set()
    turns: list[dict[str, Any]] = []
    for index, (utterance, said) in enumerate(zip(scenario.turns, spoken, strict=False)):
        next_start = spoken[index + 1].speech_start_at if index + 1 < len(spoken) else float("inf")
        first = audio.first_loud_after(said.speech_end_at)
        heard = first - said.speech_end_at if first is not None and first < next_start else None
        report: dict[str, Any] = {}
        for number, (arrived, body) in enumerate(reports):
            if number not in used and arrived >= said.speech_end_at:
                used.add(number)
                report = body
                break
        reaction = decided = None
        if index > 0 and scenario.barge_in_after_s is not None and not utterance.noise_only:
            quiet = audio.silent_from(said.speech_start_at, hold_s=QUIET_HOLD_S)
            reaction = None if quiet is None else max(0.0, quiet - said.speech_start_at)
            # the agent stops speaking (state "listening") the moment it takes the barge-in:
            # before it, the uplink and the VAD; after it, the audio already on its way
            stopped = [
                at
                for at, state in participant.agent_states
                if at >= said.speech_start_at and state != "speaking"
            ]
            decided = stopped[0] - said.speech_start_at if stopped else None
        false_interruptions = 0
        if utterance.noise_only:
            quiet = audio.silent_from(said.speech_start_at, hold_s=QUIET_HOLD_S)
            if quiet is not None and quiet <= said.finished_at + 1.5:
                false_interruptions = 1
        user_segments = {
            s.segment_id
            for s in participant.streams
            if s.identity == me and s.final and said.started_at - 0.3 <= s.opened_at < next_start
        }
        turns.append(
            {
                "input": utterance.name,
                "first_audio_latency_s": None if utterance.noise_only else heard,
                "agent_e2e_s": report.get("e2e_s"),
                "end_of_turn_s": report.get("end_of_turn_s"),
                "stt_delay_s": report.get("stt_s"),
                "stt_inference_s": None,
                "llm_ttft_s": report.get("llm_ttft_s"),
                "llm_first_sentence_s": report.get("llm_first_sentence_s"),
                "tts_ttfb_s": report.get("tts_ttfb_s"),
                "barge_in_reaction_s": reaction,
                "barge_in_decided_s": decided,
                "user_messages": len(user_segments),
                "replied_during_speech": scenario.barge_in_after_s is None
                and audio.loud_frames_between(said.speech_start_at, said.speech_end_at) > 0,
                "false_interruptions": false_interruptions,
            }
        )
    # a noise-only turn's false interruption belongs to the reply it stopped
    for index in range(len(turns) - 1, 0, -1):
        if scenario.turns[index].noise_only and turns[index]["false_interruptions"]:
            turns[index - 1]["false_interruptions"] += turns[index]["false_interruptions"]
            turns[index]["false_interruptions"] = 0
    return turns


AGENT = "agent"
"""The conversation process: the worker, whose jobs are its threads."""


def agent_memory(samples: list[TreeFigures]) -> dict[str, Any]:
    """The agent worker's RSS and PSS (MB) in each session, in order, and its first, last and
    largest: its steady state, and what it grows by over the sessions."""
    mib = 1024 * 1024
    readings: list[dict[str, Any]] = [
        {
            "rss_mb": round(p.rss_bytes / mib, 1),
            "pss_mb": None if p.pss_bytes is None else round(p.pss_bytes / mib, 1),
        }
        for sample in samples
        for p in sample.processes
        if p.name == AGENT
    ]
    if not readings:
        return {}
    return {
        "sessions": len(readings),
        "first": readings[0],
        "last": readings[-1],
        "peak": max(readings, key=lambda r: r["rss_mb"]),
        "growth_rss_mb": round(readings[-1]["rss_mb"] - readings[0]["rss_mb"], 1),
        "per_session": readings,
    }


def tree_memory(samples: list[TreeFigures]) -> dict[str, Any]:
    """The largest reading of the whole tree, summed and per process, and the agent's own
    readings session by session (``agent_memory``)."""
    if not samples:
        return {}
    peak = max(samples, key=lambda t: t.pss_bytes or t.total("rss_bytes"))
    mib = 1024 * 1024
    return {
        "agent": agent_memory(samples),
        "samples": len(samples),
        "pss_mb": None if peak.pss_bytes is None else round(peak.pss_bytes / mib, 1),
        "rss_mb": round(peak.total("rss_bytes") / mib, 1),
        "processes": [
            {
                "name": p.name,
                "pss_mb": None if p.pss_bytes is None else round(p.pss_bytes / mib, 1),
                "rss_mb": round(p.rss_bytes / mib, 1),
            }
            for p in peak.processes
        ],
    }


async def _run_in_rooms(
    stack: RoomStack,
    scenarios: list[Scenario],
    options: BenchOptions,
    result: BenchResult,
    memory: list[TreeFigures],
    progress: Progress,
) -> None:
    behaviour = stack.llm.behaviour
    behaviour.first_token_delay_s = options.first_token_delay_s
    behaviour.token_interval_s = options.token_interval_s
    for repetition in range(options.repetitions):
        for scenario in scenarios:
            behaviour.reply = _fixed_reply(scenario.reply)
            participant = await stack.join(noise_dbfs=scenario.noise_dbfs)
            try:
                spoken, _ = await converse_in_room(participant, scenario)
                memory.append(stack.tree())  # mid-conversation: the job is still in the room
            finally:
                await participant.leave()
            turns = room_turns(participant, scenario, spoken)
            for index, turn in enumerate(turns):
                pause = scenario.pauses_s[index] if index < len(scenario.pauses_s) else None
                result.turns.append(
                    TurnRecord(
                        scenario.name, repetition, turn, speech=scenario.speech, pause_s=pause
                    )
                )
            progress(
                f"room: {scenario.name} #{repetition + 1}: "
                + ", ".join(
                    "-"
                    if t["first_audio_latency_s"] is None
                    else f"{t['first_audio_latency_s']:.2f}s"
                    for t in turns
                )
            )
            await asyncio.sleep(1.0)  # the job ends with the room before the next one opens


def run_room_bench(
    settings: Settings,
    scenarios: list[Scenario],
    options: BenchOptions,
    progress: Progress,
    *,
    environ: dict[str, str] | None = None,
) -> BenchResult:
    """Start ``up`` (its own ports, log and LLM stand-in), run ``scenarios`` through rooms in
    it, stop it. ``environ`` is the base of ``up``'s environment (default: this process's);
    livekit-server is found there as ``up`` finds it (``LIVEKIT_SERVER_BIN``, the cache)."""
    began = time.perf_counter()
    llm = replace(settings.llm, max_retries=0)
    with tempfile.TemporaryDirectory(prefix="voice-sidecar-bench-room-") as folder:
        root = Path(folder)
        env = stack_env(
            root,
            environ,
            **settings_env(settings),
            VOICE_SIDECAR_LLM_MAX_RETRIES=str(llm.max_retries),
        )
        started = time.perf_counter()
        with RoomStack.start(env, root / "log" / "voice-sidecar.log") as stack:
            result = BenchResult(
                settings={"room": True, "repetitions": options.repetitions},
                startup_s=time.perf_counter() - started,
            )
            progress(f"room: up ready in {result.startup_s:.2f}s")
            memory: list[TreeFigures] = []
            asyncio.run(_run_in_rooms(stack, scenarios, options, result, memory, progress))
            result.tree_memory = tree_memory(memory)
    result.wall_s = time.perf_counter() - began
    return result
