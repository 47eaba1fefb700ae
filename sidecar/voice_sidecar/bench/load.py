"""K conversations at once against a running ``up``: the capacity of one worker.

Each conversation is a real ``livekit.rtc`` participant in its own room (``RoomParticipant``,
joining through ``POST /session`` as the app does). Conversation ``i`` starts ``i * stagger_s``
after the first and speaks recorded turns: two questions, then one that gets a long reply,
interrupted 1.5 s into its audio. Reported per K: end of speech to first agent audio (median,
p90), barge-in (the user starts talking -> the agent's audio stops), the agent's own STT delay,
how long transcriptions waited for the one Whisper thread, and the agent process tree's CPU and
memory per conversation.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from voice_sidecar.audio_files import FloatAudio
from voice_sidecar.testing.llm_server import echo_reply

from .measure import summary
from .room_participant import RoomParticipant, request_session

QUESTIONS = ("What is the capital of France?", "How tall is the Eiffel tower?")
LONG_QUESTION = "Tell me a long story about the sea."
INTERRUPTION = "Stop, that is enough."
LONG_REPLY = (
    "Here is a long story about the sea, so that there is time to interrupt it. "
    "Once upon a time a small boat left the harbour before dawn, with three sailors aboard. "
    "The wind was light and the water calm, and they sailed west for many hours. "
    "In the afternoon clouds came in, the waves grew, and the sailors took down the sail. "
    "By night the storm had passed, and they saw the lights of a village on the shore."
)
ANSWER_WITHIN_S = 60.0
BARGE_IN_AFTER_S = 1.5
QUEUE_LINE = re.compile(r"whisper queue: runs=(\d+) total_s=([\d.]+) max_s=([\d.]+)")


def load_reply(messages: list[dict[str, Any]]) -> str:
    """The LLM stand-in's answer: the long story for its question, else an echo."""
    last: dict[str, Any] = next((m for m in reversed(messages) if m.get("role") == "user"), {})
    if "story" in str(last.get("content", "")).lower():
        return LONG_REPLY
    return echo_reply(messages)


@dataclass
class Conversation:
    index: int
    room: str = ""
    asked: int = 0
    answered: int = 0
    first_audio_s: list[float] = field(default_factory=list)
    barge_in_s: float | None = None
    reports: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None


async def _answer(participant: RoomParticipant, count: int) -> bool:
    deadline = time.monotonic() + ANSWER_WITHIN_S
    while time.monotonic() < deadline:
        if len(participant.agent_text(final_only=False)) >= count:
            return True
        await asyncio.sleep(0.05)
    return False


async def converse(
    index: int, control_url: str, token: str, speak: Callable[[str], FloatAudio], delay_s: float
) -> Conversation:
    result = Conversation(index)
    await asyncio.sleep(delay_s)
    participant = RoomParticipant()
    try:
        grant = await request_session(control_url, token, {"version": 1})
        result.room = grant.room
        await participant.connect(grant)
        await participant.wait_for_agent_audio(ANSWER_WITHIN_S)
        for question in QUESTIONS:
            result.asked += 1
            spoken = await participant.say(speak(question))
            if await _answer(participant, result.asked):
                result.answered += 1
            heard = participant.agent_audio.first_loud_after(spoken.speech_end_at)
            if heard is not None:
                result.first_audio_s.append(heard - spoken.speech_end_at)
            await asyncio.sleep(1.0)
        result.asked += 1
        spoken = await participant.say(speak(LONG_QUESTION))
        started = None
        deadline = time.monotonic() + ANSWER_WITHIN_S
        while started is None and time.monotonic() < deadline:
            started = participant.agent_audio.first_loud_after(spoken.speech_end_at)
            await asyncio.sleep(0.05)
        if started is not None:
            result.answered += 1
            result.first_audio_s.append(started - spoken.speech_end_at)
            await asyncio.sleep(max(0.0, started + BARGE_IN_AFTER_S - time.monotonic()))
            result.asked += 1
            interruption = await participant.say(speak(INTERRUPTION))
            if await _answer(participant, result.asked):
                result.answered += 1
            quiet = participant.agent_audio.silent_from(interruption.speech_start_at, hold_s=0.4)
            if quiet is not None:
                result.barge_in_s = quiet - interruption.speech_start_at
        await asyncio.sleep(0.5)
        result.reports = [report for _, report in participant.latency]
    except Exception as exc:  # noqa: BLE001 - one failed conversation is part of the report
        result.error = f"{type(exc).__name__}: {exc}"
    finally:
        await participant.leave()
    return result


class TreeSampler:
    """CPU seconds and resident memory of a process and its children, sampled every 0.5 s."""

    def __init__(self, pid: int) -> None:
        import psutil

        self._root = psutil.Process(pid)
        self.rss_mb: list[float] = []
        self._task: asyncio.Task[None] | None = None

    def cpu_s(self) -> float:
        import psutil

        total = 0.0
        for process in [self._root, *self._root.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):
                times = process.cpu_times()
                total += times.user + times.system
        return total

    def rss(self) -> float:
        import psutil

        total = 0
        for process in [self._root, *self._root.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):
                total += process.memory_info().rss
        return total / 1e6

    async def _sample(self) -> None:
        while True:
            self.rss_mb.append(self.rss())
            await asyncio.sleep(0.5)

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._sample())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


def queue_counters(log_text: str) -> tuple[int, float, float]:
    """The last ``whisper queue`` line the agent logged: runs, total and longest wait."""
    found = QUEUE_LINE.findall(log_text)
    if not found:
        return 0, 0.0, 0.0
    runs, total, longest = found[-1]
    return int(runs), float(total), float(longest)


async def run_load(
    *,
    control_url: str,
    token: str,
    conversations: int,
    speak: Callable[[str], FloatAudio],
    agent_pid: int,
    log_file: Path | None,
    stagger_s: float = 1.5,
) -> dict[str, Any]:
    """K conversations at once; the figures of one K (``figures`` of docs/benchmarks.md)."""

    def log_text() -> str:
        if log_file is None or not log_file.exists():
            return ""
        return log_file.read_text(encoding="utf-8", errors="replace")

    runs_before, wait_before, _ = queue_counters(log_text())
    closed_before = log_text().count("whisper queue:")
    sampler = TreeSampler(agent_pid)
    rss_idle = sampler.rss()
    cpu_before = sampler.cpu_s()
    sampler.start()
    started = time.monotonic()
    results = await asyncio.gather(
        *(converse(i, control_url, token, speak, i * stagger_s) for i in range(conversations))
    )
    wall = time.monotonic() - started
    await sampler.stop()
    cpu = sampler.cpu_s() - cpu_before
    # each conversation logs the Whisper counters as its job ends, ~2 s after its user left
    deadline = time.monotonic() + 20
    while log_text().count("whisper queue:") < closed_before + conversations:
        if time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)
    runs_after, wait_after, longest = queue_counters(log_text())
    runs = runs_after - runs_before
    first_audio = [s for r in results for s in r.first_audio_s]
    stt = [
        float(rep["stt_s"]) for r in results for rep in r.reports if rep.get("stt_s") is not None
    ]
    return {
        "conversations": conversations,
        "asked": sum(r.asked for r in results),
        "answered": sum(r.answered for r in results),
        "errors": [r.error for r in results if r.error],
        "first_audio_s": summary(first_audio),
        "barge_in_s": summary([r.barge_in_s for r in results if r.barge_in_s is not None]),
        "agent_stt_s": summary(stt),
        "whisper_queue": {
            "runs": runs,
            "mean_wait_s": (wait_after - wait_before) / runs if runs > 0 else None,
            "longest_wait_s": longest if runs > 0 else None,
        },
        "wall_s": round(wall, 2),
        "agent_cpu_s": round(cpu, 2),
        "agent_cpu_s_per_conversation": round(cpu / conversations, 2),
        "agent_cores_busy": round(cpu / wall, 2) if wall > 0 else None,
        "agent_rss_mb_idle": round(rss_idle, 1),
        "agent_rss_mb_peak": round(max(sampler.rss_mb, default=rss_idle), 1),
        "agent_rss_mb_per_conversation": round(
            (max(sampler.rss_mb, default=rss_idle) - rss_idle) / conversations, 1
        ),
        "rooms": [asdict(r) | {"reports": len(r.reports)} for r in results],
    }


def load_table(rows: list[dict[str, Any]]) -> str:
    """One line per K, the figures of docs/benchmarks.md."""

    def fmt(value: Any) -> str:
        return "-" if value is None else f"{value:.2f}" if isinstance(value, float) else str(value)

    header = (
        "| K | answered | first audio median / p90 (s) | barge-in median (s) "
        "| agent STT median (s) | Whisper wait mean / max (s) | agent CPU s per conv. "
        "| cores busy | RSS MB per conv. |"
    )
    lines = [header, "|" + " --- |" * 9]
    for row in rows:
        queue = row["whisper_queue"]
        lines.append(
            f"| {row['conversations']} | {row['answered']}/{row['asked']} "
            f"| {fmt(row['first_audio_s']['median'])} / {fmt(row['first_audio_s']['p90'])} "
            f"| {fmt(row['barge_in_s']['median'])} | {fmt(row['agent_stt_s']['median'])} "
            f"| {fmt(queue['mean_wait_s'])} / {fmt(queue['longest_wait_s'])} "
            f"| {fmt(row['agent_cpu_s_per_conversation'])} | {fmt(row['agent_cores_busy'])} "
            f"| {fmt(row['agent_rss_mb_per_conversation'])} |"
        )
    return "\n".join(lines)
