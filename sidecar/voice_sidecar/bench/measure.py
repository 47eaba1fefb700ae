"""Run the scenarios through the real pipeline and reduce the results to figures."""

from __future__ import annotations

import asyncio
import resource
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from voice_sidecar.converse.runner import ConverseOptions, TurnResult, run_conversation
from voice_sidecar.errors import UserFacingError
from voice_sidecar.log import logger
from voice_sidecar.persona import SessionRequest
from voice_sidecar.runtime import ModelPaths, SpeechRuntime
from voice_sidecar.settings import LlmSettings, Settings
from voice_sidecar.testing.llm_server import FakeLlmServer, LlmBehaviour

from . import real_speech, vocal_sounds
from .scenarios import (
    OVER_REPLY,
    SPEECH_KINDS,
    SYNTHETIC,
    Scenario,
    answers_counted,
    build_scenarios,
    piper_speaker,
)


@dataclass(frozen=True)
class BenchOptions:
    repetitions: int = 2
    first_token_delay_s: float = 0.05
    token_interval_s: float = 0.02
    stt_models: tuple[str, ...] = ("tiny.en", "base")
    only: tuple[str, ...] = ()
    """Scenario names to run (substring match); empty: all."""
    speech: tuple[str, ...] = SPEECH_KINDS
    """Which speech to play: ``synthetic`` (Piper), ``real`` (recordings of people)."""
    real_speech_dir: Path | None = None
    """The recordings' folder; None: found or fetched into the user's cache."""


@dataclass
class TurnRecord:
    scenario: str
    repetition: int
    turn: dict[str, Any]
    speech: str = SYNTHETIC
    pause_s: float | None = None
    """A halting turn's pause mid-sentence; None for a finished turn."""

    @property
    def cut_off(self) -> bool:
        """The agent answered a halting turn before it ended (or split it in two)."""
        return bool(self.turn["user_messages"] > 1 or self.turn["replied_during_speech"])


@dataclass
class BenchResult:
    settings: dict[str, Any]
    startup_s: float
    turns: list[TurnRecord] = field(default_factory=list)
    stt_rtf: dict[str, float] = field(default_factory=dict)
    tts_rtf: float = 0.0
    peak_rss_mb: float = 0.0
    wall_s: float = 0.0
    scenarios: list[Scenario] = field(default_factory=list, repr=False)
    """The scenarios as played (their audio), for a second run through a room."""
    tree_memory: dict[str, Any] = field(default_factory=dict)
    """Through a room: the peak memory of ``up``'s whole process tree (``room_run``)."""


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    low, high = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (k - low)


def summary(values: list[float]) -> dict[str, float | int | None]:
    return {
        "median": statistics.median(values) if values else None,
        "p90": percentile(values, 0.9),
        "n": len(values),
    }


def _peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def _fixed_reply(text: str) -> Callable[[list[dict[str, Any]]], str]:
    def reply(_messages: list[dict[str, Any]]) -> str:
        return text

    return reply


def _turn_dict(turn: TurnResult) -> dict[str, Any]:
    from dataclasses import asdict

    return asdict(turn)


async def _run_scenarios(
    runtime: SpeechRuntime,
    settings: Settings,
    scenarios: list[Scenario],
    options: BenchOptions,
    result: BenchResult,
    progress: Any,
) -> None:
    for repetition in range(options.repetitions):
        for scenario in scenarios:
            server = FakeLlmServer(
                LlmBehaviour(
                    first_token_delay_s=options.first_token_delay_s,
                    token_interval_s=options.token_interval_s,
                    reply=_fixed_reply(scenario.reply),
                )
            ).start()
            try:
                run_settings = replace(
                    settings,
                    llm=LlmSettings(base_url=server.base_url, model="bench", max_retries=0),
                )
                conversation = await run_conversation(
                    runtime,
                    run_settings,
                    SessionRequest(),
                    scenario.turns,
                    ConverseOptions(
                        barge_in_after_s=scenario.barge_in_after_s,
                        noise_dbfs=scenario.noise_dbfs,
                        noise_watch_s=scenario.watch_s,
                        watch_until_reply_ends=scenario.name.startswith(OVER_REPLY),
                    ),
                )
            finally:
                server.stop()
            for index, turn in enumerate(conversation.turns):
                pause = scenario.pauses_s[index] if index < len(scenario.pauses_s) else None
                result.turns.append(
                    TurnRecord(
                        scenario.name,
                        repetition,
                        _turn_dict(turn),
                        speech=scenario.speech,
                        pause_s=pause,
                    )
                )
            progress(
                f"{scenario.name} #{repetition + 1}: "
                + ", ".join(
                    "-" if t.first_audio_latency_s is None else f"{t.first_audio_latency_s:.2f}s"
                    for t in conversation.turns
                )
            )


def _stt_rtf(
    runtime_settings: Settings,
    paths: ModelPaths,
    scenarios: list[Scenario],
    models: tuple[str, ...],
) -> dict[str, float]:
    from voice_sidecar.runtime import load_whisper, model_provider

    audio = [u.samples for s in scenarios for u in s.turns][:6]
    rtf: dict[str, float] = {}
    for name in models:
        settings = replace(runtime_settings, stt=replace(runtime_settings.stt, model=name))
        try:
            engine, _ = load_whisper(settings, model_provider(settings, paths))
        except UserFacingError as exc:
            logger.warning("no real-time factor for %s: %s", name, exc)
            continue
        try:
            stt = settings.stt
            engine.warm_up(stt.beam_size, stt.window_s)
            spent = heard = 0.0
            for samples in audio:
                t = engine.transcribe(
                    samples, language="en", beam_size=stt.beam_size, window_s=stt.window_s
                )
                spent += t.inference_seconds
                heard += t.audio_seconds
            rtf[name] = spent / heard
        finally:
            engine.close()
    return rtf


def _tts_rtf(runtime: SpeechRuntime) -> float:
    import threading

    engine = runtime.voice()
    spent = samples = 0.0
    for text in (
        "Sure, here is a quick answer for you.",
        "The first thing to know is that the weather will change during the week.",
        "By the weekend it clears up again and it gets warmer.",
    ):
        started = time.perf_counter()
        pcm = b"".join(engine.synthesize_chunks(text, length_scale=None, stop=threading.Event()))
        spent += time.perf_counter() - started
        samples += len(pcm) / 2
    return spent / (samples / engine.sample_rate)


def _vocal_sounds(progress: Any) -> Path | None:
    """The real coughs and laughs, fetched the first time; without them (no apt-get here) the
    bench runs on and says so."""
    from voice_sidecar.paths import default_cache_dir

    try:
        return vocal_sounds.ensure(default_cache_dir(), progress)
    except UserFacingError as exc:
        progress(f"no real coughs and laughs: {exc}")
        return None


def run_bench(
    settings: Settings, paths: ModelPaths, options: BenchOptions, progress: Any
) -> BenchResult:
    began = time.perf_counter()
    started = time.perf_counter()
    runtime = SpeechRuntime.load(settings, paths)
    runtime.warm_up()
    result = BenchResult(
        settings={
            "stt": vars(settings.stt) | {},
            "turn": vars(settings.turn) | {},
            "tts": vars(settings.tts) | {},
            "llm_first_token_delay_s": options.first_token_delay_s,
            "llm_token_interval_s": options.token_interval_s,
            "repetitions": options.repetitions,
        },
        startup_s=time.perf_counter() - started,
    )
    progress(f"models ready in {result.startup_s:.2f}s")
    try:
        folder = options.real_speech_dir
        if "real" in options.speech and folder is None:
            from voice_sidecar.paths import default_cache_dir

            folder = real_speech.ensure(default_cache_dir(), progress)
        sounds = None
        if "real" in options.speech:
            sounds = (
                _vocal_sounds(progress)
                if options.real_speech_dir is None
                else vocal_sounds.beside(options.real_speech_dir)
            )
        scenarios = build_scenarios(piper_speaker(runtime.voice()), folder, sounds)
        scenarios = [s for s in scenarios if s.speech in options.speech]
        if options.only:
            scenarios = [s for s in scenarios if any(o in s.name for o in options.only)]
        result.scenarios = scenarios
        asyncio.run(_run_scenarios(runtime, settings, scenarios, options, result, progress))
        result.tts_rtf = _tts_rtf(runtime)
    finally:
        runtime.close()
    result.stt_rtf = _stt_rtf(settings, paths, scenarios, options.stt_models)
    result.peak_rss_mb = _peak_rss_mb()
    result.wall_s = time.perf_counter() - began
    return result


def figures(result: BenchResult) -> dict[str, Any]:
    """Medians and p90s, per scenario and overall (barge-in runs are left out of the overall
    latency: their replies are cut short on purpose)."""
    per_scenario: dict[str, dict[str, Any]] = {}
    names = list(dict.fromkeys(t.scenario for t in result.turns))
    latency_all: list[float] = []
    for name in names:
        turns = [t.turn for t in result.turns if t.scenario == name]
        barge = name.startswith("barge-in")
        answered = [t for t in turns if t["first_audio_latency_s"] is not None]
        lat = [t["first_audio_latency_s"] for t in answered]
        if answers_counted(name):
            latency_all += lat
        stt = [t["stt_inference_s"] for t in answered if t["stt_inference_s"] is not None]
        eot = [
            t["stt_delay_s"] - t["stt_inference_s"]
            for t in answered
            if t["stt_delay_s"] is not None and t["stt_inference_s"] is not None
        ]
        entry: dict[str, Any] = {
            "first_audio_latency_s": summary(lat),
            "end_of_turn_wait_s": summary(eot),
            "stt_inference_s": summary(stt),
            "llm_ttft_s": summary(
                [t["llm_ttft_s"] for t in answered if t["llm_ttft_s"] is not None]
            ),
            "llm_first_sentence_s": summary(
                [
                    t["llm_first_sentence_s"]
                    for t in answered
                    if t["llm_first_sentence_s"] is not None
                ]
            ),
            "tts_ttfb_s": summary(
                [t["tts_ttfb_s"] for t in answered if t["tts_ttfb_s"] is not None]
            ),
            "agent_e2e_s": summary(
                [t["agent_e2e_s"] for t in answered if t.get("agent_e2e_s") is not None]
            ),
        }
        if barge:
            entry["barge_in_reaction_s"] = summary(
                [t["barge_in_reaction_s"] for t in turns if t["barge_in_reaction_s"] is not None]
            )
            entry["barge_in_decided_s"] = summary(
                [t["barge_in_decided_s"] for t in turns if t.get("barge_in_decided_s") is not None]
            )
        entry["false_interruptions"] = sum(t.get("false_interruptions", 0) for t in turns)
        halting = [t for t in result.turns if t.scenario == name and t.pause_s is not None]
        if halting:
            entry["premature_end_of_turn_rate"] = sum(t.cut_off for t in halting) / len(halting)
        entry["speech"] = next(t.speech for t in result.turns if t.scenario == name)
        if name.startswith(OVER_REPLY):
            entry["over_reply"] = over_reply_outcome(
                [t for t in result.turns if t.scenario == name]
            )
        per_scenario[name] = entry
    reactions = [
        t.turn["barge_in_reaction_s"]
        for t in result.turns
        if t.scenario.startswith("barge-in") and t.turn["barge_in_reaction_s"] is not None
    ]
    decided = [
        t.turn["barge_in_decided_s"]
        for t in result.turns
        if t.scenario.startswith("barge-in") and t.turn.get("barge_in_decided_s") is not None
    ]
    pause_turns = [t for t in result.turns if t.pause_s is not None]
    cut = [t for t in pause_turns if t.cut_off]
    return {
        "overall": {
            "first_audio_latency_s": summary(latency_all),
            "barge_in_reaction_s": summary(reactions),
            "barge_in_decided_s": summary(decided),
            "premature_end_of_turn_rate": (len(cut) / len(pause_turns)) if pause_turns else None,
            "false_interruptions": sum(t.turn.get("false_interruptions", 0) for t in result.turns),
            "startup_s": round(result.startup_s, 3),
            "stt_rtf": {k: round(v, 4) for k, v in result.stt_rtf.items()},
            "tts_rtf": round(result.tts_rtf, 4),
            "peak_rss_mb": round(result.peak_rss_mb, 1),
            "wall_s": round(result.wall_s, 1),
            "tree_memory": result.tree_memory,
            "agent_e2e_s": summary(
                [
                    t.turn["agent_e2e_s"]
                    for t in result.turns
                    if answers_counted(t.scenario) and t.turn.get("agent_e2e_s") is not None
                ]
            ),
        },
        "by_speech": by_speech(result),
        "scenarios": per_scenario,
    }


def over_reply_outcome(records: list[TurnRecord]) -> dict[str, Any]:
    """What a sound over the reply did, over the repetitions: paused the reply, resumed it,
    ended it for good, was answered as a turn; how long the reply stayed paused after the
    sound; and what the history kept (the user's transcript, the reply as heard)."""
    reps = sorted({r.repetition for r in records})
    runs = []
    for rep in reps:
        turns = [r.turn for r in records if r.repetition == rep]
        if len(turns) < 2:
            continue
        reply, sound = turns[0], turns[1]
        runs.append(
            {
                "paused": bool(sound["over_reply_paused"]),
                "resumed": bool(sound["over_reply_resumed"]),
                "ended": bool(sound["over_reply_cleared"]),
                "answered": sound["user_messages"] > 0,
                "resumed_after_s": sound["over_reply_resumed_after_s"],
                "heard": sound["user_transcript"],
                "reply_kept_whole": not reply["interrupted"],
            }
        )
    return {
        "runs": runs,
        "n": len(runs),
        "paused": sum(r["paused"] for r in runs),
        "resumed": sum(r["resumed"] for r in runs),
        "ended": sum(r["ended"] for r in runs),
        "answered": sum(r["answered"] for r in runs),
        "resumed_after_s": summary(
            [r["resumed_after_s"] for r in runs if r["resumed_after_s"] is not None]
        ),
    }


def by_speech(result: BenchResult) -> dict[str, Any]:
    """Per kind of speech (real, synthetic): first audio on finished turns, and the cut-off
    curve, the share of halting turns answered before their end for each pause length."""
    kinds: dict[str, Any] = {}
    for kind in SPEECH_KINDS:
        turns = [t for t in result.turns if t.speech == kind]
        if not turns:
            continue
        finished = [
            t.turn["first_audio_latency_s"]
            for t in turns
            if t.pause_s is None
            and answers_counted(t.scenario)
            and t.turn["first_audio_latency_s"] is not None
        ]
        curve = []
        for pause in sorted({t.pause_s for t in turns if t.pause_s is not None}):
            at = [t for t in turns if t.pause_s == pause]
            cuts = sum(t.cut_off for t in at)
            curve.append(
                {"pause_s": pause, "turns": len(at), "cut_offs": cuts, "rate": cuts / len(at)}
            )
        kinds[kind] = {"finished_first_audio_s": summary(finished), "cut_off_curve": curve}
    return kinds
