"""The benchmark's arithmetic and reports, and one short real run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from voice_sidecar.bench import real_speech, vocal_sounds
from voice_sidecar.bench.measure import (
    BenchOptions,
    BenchResult,
    TurnRecord,
    figures,
    percentile,
    run_bench,
)
from voice_sidecar.bench.report import plot, table
from voice_sidecar.bench.scenarios import (
    NOISE_DURING_REPLY,
    OVER_REPLY,
    REAL,
    REAL_BARGE_IN,
    REAL_HALTING,
    SYNTHETIC,
    noise_bursts,
    real_scenarios,
    real_sounds_over_reply,
)
from voice_sidecar.converse.file_input import SpokenUtterance
from voice_sidecar.converse.file_output import PlaybackSegment
from voice_sidecar.converse.runner import TurnResult, Utterance, _count_false_interruptions
from voice_sidecar.runtime import ModelPaths
from voice_sidecar.settings import Settings


def _turn(latency: float | None, **extra: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "first_audio_latency_s": latency,
        "stt_delay_s": 0.9,
        "stt_inference_s": 0.35,
        "llm_ttft_s": 0.05,
        "llm_first_sentence_s": 0.2,
        "tts_ttfb_s": 0.1,
        "barge_in_reaction_s": None,
        "user_messages": 1,
        "replied_during_speech": False,
    }
    return base | extra


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [([1.0], 0.9, 1.0), ([1.0, 2.0], 0.5, 1.5), ([3.0, 1.0, 2.0, 4.0], 0.9, 3.7), ([], 0.5, None)],
)
def test_percentile(values: list[float], q: float, expected: float | None) -> None:
    result = percentile(values, q)
    assert result == pytest.approx(expected) if expected is not None else result is None


def test_figures_split_latency_barge_in_and_cut_offs(tmp_path: Path) -> None:
    result = BenchResult(settings={}, startup_s=1.2, stt_rtf={"tiny.en": 0.2}, tts_rtf=0.05)
    result.turns = [
        TurnRecord("short questions", 0, _turn(1.2)),
        TurnRecord("short questions", 0, _turn(1.4)),
        TurnRecord("mid-sentence pauses", 0, _turn(1.3), pause_s=0.3),
        TurnRecord("mid-sentence pauses", 0, _turn(0.9, user_messages=2), pause_s=0.6),
        TurnRecord("barge-in at 1 s", 0, _turn(1.5)),
        TurnRecord("barge-in at 1 s", 0, _turn(1.6, barge_in_reaction_s=0.55)),
    ]
    numbers = figures(result)
    overall = numbers["overall"]
    assert overall["first_audio_latency_s"]["n"] == 4, "barge-in runs stay out of the overall"
    assert overall["first_audio_latency_s"]["median"] == pytest.approx(1.25)
    assert overall["barge_in_reaction_s"]["median"] == pytest.approx(0.55)
    assert overall["premature_end_of_turn_rate"] == pytest.approx(0.5)
    short = numbers["scenarios"]["short questions"]
    assert short["end_of_turn_wait_s"]["median"] == pytest.approx(0.55)
    text = table(numbers)
    assert "| short questions | 1.300 |" in text
    assert "cut-offs 0.500" in text
    png = tmp_path / "plot.png"
    plot(numbers, png)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_false_interruptions_are_counted_and_noise_runs_stay_out_of_the_latency() -> None:
    result = BenchResult(settings={}, startup_s=1.0)
    result.turns = [
        TurnRecord("short questions", 0, _turn(1.2)),
        TurnRecord("background noise", 0, _turn(1.3, false_interruptions=1)),
        TurnRecord(NOISE_DURING_REPLY, 0, _turn(2.5, false_interruptions=1)),
        TurnRecord(NOISE_DURING_REPLY, 0, _turn(None)),
    ]
    numbers = figures(result)
    assert numbers["overall"]["first_audio_latency_s"]["n"] == 2
    assert numbers["overall"]["false_interruptions"] == 2
    assert numbers["scenarios"][NOISE_DURING_REPLY]["false_interruptions"] == 1
    assert "false interruptions 1" in table(numbers)


def _said(start: float, end: float) -> SpokenUtterance:
    return SpokenUtterance(
        started_at=start, speech_start_at=start, speech_end_at=end, finished_at=end
    )


def test_a_reply_stopped_by_noise_alone_is_a_false_interruption() -> None:
    utterances = [
        Utterance("question", noise_bursts()[:10]),
        Utterance("noise", noise_bursts()[:10], noise_only=True),
    ]
    spoken = [_said(0.0, 2.0), _said(4.0, 7.0)]
    turns = [TurnResult(input="question"), TurnResult(input="noise")]
    stopped_by_noise = PlaybackSegment(started_at=3.0, silenced_at=4.6)
    _count_false_interruptions(turns, utterances, spoken, [stopped_by_noise], closing_at=20.0)
    assert [t.false_interruptions for t in turns] == [1, 0]

    # the same stop during real speech is a barge-in; a stop at close is no interruption
    turns = [TurnResult(input="question"), TurnResult(input="speech")]
    speech = [utterances[0], Utterance("speech", utterances[1].samples)]
    closed = PlaybackSegment(started_at=8.0, silenced_at=20.0)
    _count_false_interruptions(turns, speech, spoken, [stopped_by_noise, closed], closing_at=20.0)
    assert [t.false_interruptions for t in turns] == [0, 0]


def test_noise_bursts_are_loud_and_seconds_long() -> None:
    import numpy as np

    audio = noise_bursts()
    assert 3.0 < len(audio) / 16000 < 5.0
    assert 0.1 < float(np.abs(audio).max()) <= 1.0


@pytest.mark.slow
def test_a_short_real_run(model_paths: ModelPaths, speech_settings: Settings) -> None:
    lines: list[str] = []
    result = run_bench(
        speech_settings,
        model_paths,
        BenchOptions(
            repetitions=1, only=("short",), stt_models=("tiny.en",), speech=("synthetic",)
        ),
        lines.append,
    )
    numbers = figures(result)
    latency = numbers["overall"]["first_audio_latency_s"]
    assert latency["n"] == 3
    assert 0.2 < latency["median"] < 5
    assert numbers["overall"]["stt_rtf"]["tiny.en"] > 0
    assert any(line.startswith("short questions #1") for line in lines)


def test_the_cut_off_curve_and_finished_turns_are_reported_per_kind_of_speech() -> None:
    result = BenchResult(settings={}, startup_s=1.0)
    result.turns = [
        TurnRecord("short questions", 0, _turn(1.1)),
        TurnRecord("mid-sentence pauses", 0, _turn(1.2), pause_s=0.3),
        TurnRecord("mid-sentence pauses", 0, _turn(1.2, user_messages=2), pause_s=1.0),
        TurnRecord("real short turns", 0, _turn(0.8), speech=REAL),
        TurnRecord("real short turns", 0, _turn(1.0), speech=REAL),
        TurnRecord(REAL_HALTING, 0, _turn(1.3), speech=REAL, pause_s=0.3),
        TurnRecord(REAL_HALTING, 0, _turn(1.3), speech=REAL, pause_s=1.0),
        TurnRecord(
            REAL_HALTING, 1, _turn(0.6, replied_during_speech=True), speech=REAL, pause_s=1.0
        ),
    ]
    numbers = figures(result)
    real, synthetic = numbers["by_speech"][REAL], numbers["by_speech"][SYNTHETIC]
    assert real["finished_first_audio_s"] == {"median": 0.9, "p90": pytest.approx(0.98), "n": 2}
    assert synthetic["finished_first_audio_s"]["n"] == 1, "halting turns are not finished turns"
    assert [(p["pause_s"], p["cut_offs"], p["turns"]) for p in real["cut_off_curve"]] == [
        (0.3, 0, 1),
        (1.0, 1, 2),
    ]
    assert numbers["scenarios"][REAL_HALTING]["premature_end_of_turn_rate"] == pytest.approx(1 / 3)
    text = table(numbers)
    assert "| real | 0.900 | 0.980 | 2 |" in text
    assert "| pause | synthetic speech | real speech |" in text
    assert "| 1.00 s | 1.00 (1/1) | 0.50 (1/2) |" in text


@pytest.mark.real_speech
def test_the_real_speech_scenarios_are_short_long_and_halting(real_speech_dir: Path) -> None:
    scenarios = {s.name: s for s in real_scenarios(real_speech_dir)}
    assert set(scenarios) == {"real short turns", "real long turns", REAL_HALTING}
    sounds = vocal_sounds.beside(real_speech_dir)
    assert sounds is not None, "no coughs and laughs beside the speech"
    over = real_sounds_over_reply(real_speech_dir, sounds)
    assert {s.name for s in over} >= {OVER_REPLY + "cough-short (real)", REAL_BARGE_IN}
    assert all(s.turns[1].noise_only for s in over if s.name.startswith(OVER_REPLY))
    assert all(s.speech == REAL for s in scenarios.values())
    short = [len(u.samples) / 16000 for u in scenarios["real short turns"].turns]
    long = [len(u.samples) / 16000 for u in scenarios["real long turns"].turns]
    assert max(short) < 4.0 < 5.0 < min(long)
    halting = scenarios[REAL_HALTING]
    assert halting.pause_turns
    assert len(halting.turns) == len(halting.pauses_s)
    assert set(halting.pauses_s) == set(real_speech.HALTING_PAUSES_S)
    assert min(halting.pauses_s) == 0.3
    assert max(halting.pauses_s) == 1.2


@pytest.mark.slow
@pytest.mark.real_speech
def test_real_speech_goes_through_the_pipeline(
    model_paths: ModelPaths, speech_settings: Settings, real_speech_dir: Path
) -> None:
    lines: list[str] = []
    result = run_bench(
        speech_settings,
        model_paths,
        BenchOptions(
            repetitions=1,
            only=("real short",),
            stt_models=(),
            speech=(REAL,),
            real_speech_dir=real_speech_dir,
        ),
        lines.append,
    )
    numbers = figures(result)
    finished = numbers["by_speech"][REAL]["finished_first_audio_s"]
    assert finished["n"] == len(real_speech.SHORT_TURNS), "every real turn was answered"
    assert SYNTHETIC not in numbers["by_speech"]
    assert "| real |" in table(numbers)


def test_a_sound_over_a_reply_is_reported_as_paused_resumed_or_ended() -> None:
    """Guards against a reply dropped at the session's close reading as ended by the sound,
    and a resumed reply reading as interrupted."""
    from voice_sidecar.converse.runner import _note_reply_under

    said = _said(4.0, 4.5)
    resumed = TurnResult(input="mm")
    _note_reply_under(
        resumed,
        said,
        [PlaybackSegment(started_at=3.0, silenced_at=4.3, resumed_at=5.2, cleared_at=30.0)],
        closing_at=30.0,
    )
    assert (resumed.over_reply_paused, resumed.over_reply_resumed) == (True, True)
    assert not resumed.over_reply_cleared
    assert resumed.over_reply_resumed_after_s == pytest.approx(0.7)
    ended = TurnResult(input="mm")
    _note_reply_under(
        ended,
        said,
        [PlaybackSegment(started_at=3.0, silenced_at=4.3, cleared_at=5.4)],
        closing_at=30.0,
    )
    assert ended.over_reply_cleared
    assert not ended.over_reply_resumed

    name = OVER_REPLY + "mm (real)"
    result = BenchResult(settings={}, startup_s=1.0)
    result.turns = [
        TurnRecord(name, 0, _turn(1.0, interrupted=False), speech=REAL),
        TurnRecord(
            name,
            0,
            _turn(
                None,
                user_messages=0,
                user_transcript="",
                over_reply_paused=True,
                over_reply_resumed=True,
                over_reply_cleared=False,
                over_reply_resumed_after_s=0.7,
            ),
            speech=REAL,
        ),
    ]
    numbers = figures(result)
    outcome = numbers["scenarios"][name]["over_reply"]
    assert (outcome["paused"], outcome["resumed"], outcome["ended"], outcome["answered"]) == (
        1,
        1,
        0,
        0,
    )
    assert numbers["overall"]["first_audio_latency_s"]["n"] == 0, "no answer counted"
    assert "| mm (real) | 1/1 | 1/1 | 0/1 | 0/1 | 0.700 | '' |" in table(numbers)


def test_the_agents_memory_is_read_per_session_and_its_growth_reported() -> None:
    # issue 14: the agent's idle RSS grew 740 -> 993 MB over repeated load runs, and nothing
    # said by how much a session grows it
    from voice_sidecar.bench.process_tree import ProcessFigures, TreeFigures
    from voice_sidecar.bench.report import _agent_memory_line
    from voice_sidecar.bench.room_run import tree_memory

    mib = 1024 * 1024

    def sample(agent_mb: int) -> TreeFigures:
        return TreeFigures(
            [
                ProcessFigures(1, "up", 137 * mib, 130 * mib, 9, 20),
                ProcessFigures(2, "agent", agent_mb * mib, (agent_mb - 70) * mib, 23, 30),
            ]
        )

    memory = tree_memory([sample(478), sample(490), sample(483)])
    agent = memory["agent"]
    assert agent["sessions"] == 3
    assert agent["first"] == {"rss_mb": 478.0, "pss_mb": 408.0}
    assert agent["last"] == {"rss_mb": 483.0, "pss_mb": 413.0}
    assert agent["peak"]["rss_mb"] == 490.0
    assert agent["growth_rss_mb"] == 5.0
    assert _agent_memory_line(agent) == (
        "The agent worker (the conversation process) in session 1: RSS 478 MB, PSS 408; "
        "in session 3: RSS 483 MB, PSS 413 (+5 MB RSS); largest RSS 490 MB, PSS 420."
    )


def test_word_errors_count_what_a_reader_would_call_wrong() -> None:
    # the beam probe's WER: Whisper's digits, "Mr." and hyphens are not errors, words are
    from voice_sidecar.bench.beam_probe import word_errors, words

    assert words("And Mr. John Dashwood, 10 meters ill-disposed.") == [
        "and", "mister", "john", "dashwood", "ten", "meters", "ill", "disposed"
    ]  # fmt: skip
    reference = words("unless to be rather cold hearted and rather selfish is to be ill disposed")
    heard = words("Unless to be rather cold-hearted and rather selfish is to be old-sposed.")
    assert word_errors(reference, heard) == 2
    assert word_errors(reference, reference) == 0
    assert word_errors(["four", "of", "clubs"], ["four", "close"]) == 2  # a deletion, a swap


def test_window_probe_reports_errors_fallbacks_and_what_differs() -> None:
    from voice_sidecar.bench.window_probe import WindowFigures, render

    full = WindowFigures(30.0, wall_s=[0.40, 0.38], errors=3, reference_words=204)
    full.texts = {"ten-of-clubs": "10 of clubs.", "cough-default": "AH!"}
    short = WindowFigures(12.0, wall_s=[0.09, 0.07], errors=3, reference_words=204, fell_back=1)
    short.texts = {"ten-of-clubs": "10 of clubs", "cough-default": "Bleh."}
    short.differing_words = 1
    lines = render({30.0: full, 12.0: short}, clip_count=2, rounds=1).splitlines()
    assert lines[2] == "| 30 s | 3 of 204 | 0 | 0 of 2 | 0.390 s (0.400) | 2 (1 rounds) |"
    assert lines[3] == "| 12 s | 3 of 204 | 1 | 1 of 2 | 0.080 s (0.090) | 2 (1 rounds) |"
    # punctuation alone is no difference; a different word is listed with the 30 s text
    assert lines[4:] == ["- 12 s, cough-default: 'Bleh.' (30 s: 'AH!')"]


@pytest.mark.real_speech
def test_window_probe_clips_cover_halves_long_turns_and_sounds(real_speech_dir: Path) -> None:
    from voice_sidecar.bench.window_probe import LONG_TURNS, clips

    found = clips(real_speech_dir, vocal_sounds.beside(real_speech_dir))
    halves = [c for c in found if c.name.endswith("(first half)")]
    assert len(halves) == len(real_speech.HALTING_CUTS)
    assert all(c.reference is None for c in halves)
    long_turns = [c for c in found if " + " in c.name]
    assert len(long_turns) == len(LONG_TURNS)
    # the longest runs past a 12 s window: the probe covers the window that grows with the turn
    assert max(len(c.audio) for c in long_turns) / 16_000 > 20
    assert len(found) == len(real_speech.RECORDINGS) + len(halves) + len(long_turns) + len(
        vocal_sounds.SOUNDS
    )
