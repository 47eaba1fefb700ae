"""The agent through a real room: a real livekit-server, a real ``voice-sidecar up``, and a
``livekit.rtc`` participant that joins through the control API as the desktop app does.

CI builds the server (scripts/build-livekit-server.sh) and requires these tests
(VOICE_SIDECAR_REQUIRE=livekit_server); elsewhere they skip without a binary.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator

import pytest

from voice_sidecar.audio_files import read_speech
from voice_sidecar.bench.room_participant import RoomParticipant
from voice_sidecar.room_audio import read_figures
from voice_sidecar.runtime import SpeechRuntime
from voice_sidecar.testing.llm_server import echo_reply

from .conftest import SpeechFiles
from .real_stack import RealStack, tree_figures, until

pytestmark = [pytest.mark.livekit_server, pytest.mark.slow]

LONG_REPLY = (
    "Here is a long answer, so that there is time to interrupt it. "
    "The first thing to know is that the weather will change during the week. "
    "On Monday it stays dry and mild, with a light wind from the west. "
    "From Wednesday on, clouds come in and it may rain in the afternoon. "
    "By the weekend it clears up again and it gets warmer. Anything else?"
)
BARGE_IN_LIMIT_S = 1.0
"""A reply that goes on talking over the user fails this at once (the long reply lasts ~20 s);
how fast it stops is a figure of ``bench --room`` (docs/benchmarks.md), not a timed test.
Not tighter: at load 5-9 on this 2-core machine the room's barge-in p90 was 0.98 s (median
0.68 s; 0.34-0.60 s when the load was 3-5): the uplink, the VAD and the downlink all wait
for the CPU. What the agent itself controls is ``AGENT_STOP_LIMIT_S``."""
AGENT_STOP_LIMIT_S = 0.05
"""The agent's decision (the output's pause) to the last audio its source sends: the queue is
dropped in the pause itself (``room_audio``), so this is the pause call's own time (0.3 ms
on an idle loop, 11 ms seen at load 10, the job's thread waiting for the GIL); the
framework's own pause took 25 ms median, 51 ms at most, with the TTS ahead, and let the
whole queue play (~170 ms) with it behind."""
HISTORY_AHEAD_LIMIT_S = 0.8
"""How much longer the history's text takes to say than the audio the user heard. With the
synchronizer paced by an estimated speaking rate it was 0.95-1.04 s (3-4 words the user
never heard); paced by each sentence's audio (``use_tts_aligned_transcript``) 0.30 s, which
is about Piper's silence after the text's last word."""

AGENT_RSS_CEILING_MB = 680
"""The agent worker's RSS after this module's sessions with Whisper tiny.en (docs/benchmarks.md,
"Issue 14: memory and Whisper beam size"): 565 MB measured, flat over the five (its long replies
grow Piper's arena); the framework's turn model, loaded again, would add 244."""


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealStack]:
    # info: the agent logs each barge-in's figures (room_audio.read_figures)
    root = tmp_path_factory.mktemp("real-stack")
    with RealStack.running(root, VOICE_SIDECAR_LOGGING_LEVEL="info") as running:
        yield running


@pytest.fixture(autouse=True)
def echo_llm(stack: RealStack) -> Iterator[None]:
    stack.llm.behaviour.reply = echo_reply
    stack.llm.behaviour.replies.clear()
    yield
    stack.llm.behaviour.reply = echo_reply


async def _answered(participant: RoomParticipant, count: int, within_s: float) -> bool:
    return await until(
        lambda: len(participant.agent_text()) >= count and len(participant.latency) >= count,
        within_s,
    )


async def test_turns_arrive_as_transcripts_latency_and_audio(
    stack: RealStack, speech: SpeechFiles, runtime: SpeechRuntime
) -> None:
    """Three turns in one room: both sides' transcripts on ``lk.transcription`` with segment
    ids, the latency report per turn on ``pa.latency``, and the reply audible in the audio."""
    questions = [
        "What is the capital of France?",
        "How tall is the Eiffel tower?",
        "Thank you very much.",
    ]
    participant = await stack.join()
    heard_at: list[float] = []
    try:
        for number, question in enumerate(questions, start=1):
            spoken = await participant.say(read_speech(speech(question)))
            assert await _answered(participant, number, 30), participant.streams
            first = participant.agent_audio.first_loud_after(spoken.speech_end_at)
            assert first is not None
            heard_at.append(first - spoken.speech_end_at)
            await asyncio.sleep(1.5)  # let the reply play out before the next question
        agent_said = participant.agent_audio.speech()
    finally:
        await participant.leave()

    user_texts = [t.lower() for t in participant.user_text()]
    assert len(user_texts) == 3, participant.streams
    assert "france" in user_texts[0]
    assert "eiffel" in user_texts[1]
    assert "thank" in user_texts[2]
    agent_texts = participant.agent_text()
    assert all(text.startswith("You said:") for text in agent_texts), agent_texts
    # every stream names its segment; the user's name the track they transcribe
    me = participant.room.local_participant.identity
    for stream in participant.streams:
        assert stream.attributes.get("lk.segment_id"), stream
        assert stream.error is None, stream
        if stream.identity == me:
            assert stream.attributes.get("lk.transcribed_track_id"), stream
    assert len({s.segment_id for s in participant.streams if s.identity == me}) == 3
    # the agent's latency report, beside what the participant measured through the room
    reports = [report for _, report in participant.latency]
    assert len(reports) == 3
    for report, through_room in zip(reports, heard_at, strict=True):
        assert report["e2e_s"] is not None
        assert 0 < through_room < 5.0, heard_at
        print(f"agent e2e {report['e2e_s']:.3f} s, heard through the room {through_room:.3f} s")
    # what arrived as audio says what the transcript says
    heard = runtime.whisper.transcribe(agent_said, language="en", beam_size=5).text.lower()
    assert heard.count("you said") >= 2, heard
    assert "france" in heard


async def test_barge_in_through_the_room_silences_the_agent(
    stack: RealStack, speech: SpeechFiles, runtime: SpeechRuntime
) -> None:
    stack.llm.behaviour.replies[:] = [LONG_REPLY]
    log_before = len(stack.log_text())
    participant = await stack.join()
    try:
        spoken = await participant.say(read_speech(speech("Tell me about the weather this week.")))
        assert await until(
            lambda: participant.agent_audio.first_loud_after(spoken.speech_end_at) is not None, 30
        )
        started = participant.agent_audio.first_loud_after(spoken.speech_end_at)
        assert started is not None
        await asyncio.sleep(max(0.0, started + 2.0 - time.monotonic()))
        interruption = await participant.say(read_speech(speech("Stop, that is enough.")))
        assert await _answered(participant, 2, 30), participant.streams
        await asyncio.sleep(0.5)
    finally:
        await participant.leave()
    quiet_at = participant.agent_audio.silent_from(interruption.speech_start_at, hold_s=0.4)
    assert quiet_at is not None
    reaction = quiet_at - interruption.speech_start_at
    # the agent's own figures: when it took the barge-in, and when its audio stopped leaving
    figures = [
        f
        for f in read_figures(stack.log_text()[log_before:])
        if f.get("paused_at", 0) >= interruption.speech_start_at
    ]
    assert figures, "the agent logged no pause after the user began"
    pause = figures[0]
    assert pause["dropped"], pause
    decided = pause["paused_at"] - interruption.speech_start_at
    stopped = pause["audio_stopped_at"] - pause["paused_at"]
    print(
        f"barge-in through the room: the agent decided {decided:.3f} s after the user began, "
        f"its audio stopped {stopped * 1000:.1f} ms later ({pause['queued_s']:.3f} s queued "
        f"dropped); heard silent {reaction:.3f} s after the user began "
        f"({quiet_at - pause['audio_stopped_at']:.3f} s after the agent's audio stopped)"
    )
    assert stopped <= AGENT_STOP_LIMIT_S, pause
    assert reaction <= BARGE_IN_LIMIT_S, reaction
    # the history keeps what was heard: the interrupted reply is a shortened prefix
    last = stack.llm.chat_requests()[-1].body["messages"]
    said = [m["content"] for m in last if m["role"] == "assistant"]
    assert said, last
    assert said[-1] != LONG_REPLY
    assert LONG_REPLY.startswith(said[-1].rstrip(". ")[:20])
    assert len(said[-1]) < len(LONG_REPLY)
    assert participant.agent_text(final_only=False)[0] != LONG_REPLY
    # ... and about what the user heard: Whisper on the audio that arrived before it went
    # quiet, and Piper's length for the history's text against the length of that audio
    arrived = participant.agent_audio.speech(started - 0.05, quiet_at + 0.05)
    heard = runtime.whisper.transcribe(arrived, language="en", beam_size=5).text
    history_s = _spoken_s(runtime, said[-1])
    heard_s = quiet_at - started
    print(
        f"history: {said[-1]!r} ({history_s:.2f} s spoken); "
        f"heard: {heard!r} ({heard_s:.2f} s of audio)"
    )
    assert len(said[-1].split()) >= len(heard.split()) - 1, (heard, said[-1])
    assert history_s <= heard_s + HISTORY_AHEAD_LIMIT_S, (history_s, heard_s)


def _spoken_s(runtime: SpeechRuntime, text: str) -> float:
    """How long the agent's voice (Piper, the same voice and rate) takes to say ``text``."""
    engine = runtime.voice()
    pcm = b"".join(engine.synthesize_chunks(text, length_scale=None, stop=threading.Event()))
    return len(pcm) / 2 / engine.sample_rate


async def test_persona_and_history_from_the_session_reach_the_llm(
    stack: RealStack, speech: SpeechFiles
) -> None:
    request = {
        "version": 1,
        "persona": {"name": "Ada", "instructions": "You are Ada. Answer in one sentence."},
        "history": [
            {"role": "user", "text": "My cat is called Mitten."},
            {"role": "assistant", "text": "Mitten is a lovely name."},
        ],
    }
    before = len(stack.llm.chat_requests())
    participant = await stack.join(request)
    try:
        await participant.say(read_speech(speech("What is my cat called?")))
        assert await _answered(participant, 1, 30)
    finally:
        await participant.leave()
    body = stack.llm.chat_requests()[before].body
    # no llm.model was given, and the stand-in serves one model: that one, not Nebius's default
    assert body["model"] == "fake-model"
    messages = body["messages"]
    system = " ".join(str(m["content"]) for m in messages if m["role"] in ("system", "developer"))
    assert "You are Ada" in system
    contents = [str(m["content"]) for m in messages]
    assert "My cat is called Mitten." in contents
    assert "Mitten is a lovely name." in contents
    assert "cat" in contents[-1].lower()


async def test_five_sessions_reuse_the_warm_models_and_leak_nothing(
    stack: RealStack, speech: SpeechFiles
) -> None:
    """One after another, as a user opens and closes the voice view; the third leaves in the
    middle of a reply. Models are loaded once; threads, descriptors and processes stay flat."""
    agent_pid = stack.service_pid("agent")
    loads_before = stack.log_text().count("speech models warmed up")
    figures: list[dict[str, int]] = []
    first_answer_s: list[float] = []
    question = read_speech(speech("What time is it?"))
    for number in range(5):
        if number == 2:
            stack.llm.behaviour.replies[:] = [LONG_REPLY]
        joined_at = time.monotonic()
        participant = await stack.join()
        try:
            spoken = await participant.say(question)
            assert await until(
                lambda p=participant, s=spoken: (
                    p.agent_audio.first_loud_after(s.speech_end_at) is not None
                ),
                30,
            ), f"session {number + 1} got no answer"
            heard = participant.agent_audio.first_loud_after(spoken.speech_end_at)
            assert heard is not None
            first_answer_s.append(heard - joined_at)
            if number != 2:
                assert await _answered(participant, 1, 30)
        finally:
            await participant.leave()
        # the job ends with the room: the agent leaves, and the worker has no job left
        assert await until(lambda: _agent_jobs(stack) == 0, 20), "the job outlived its room"
        figures.append(await _settled_figures(agent_pid))
    assert stack.service_pid("agent") == agent_pid, "the worker was never restarted"
    assert stack.log_text().count("speech models warmed up") == loads_before, "models reloaded"
    print("job start -> first answer per session (s):", [round(s, 3) for s in first_answer_s])
    print("agent tree after each session:", figures)
    assert max(first_answer_s[1:]) < first_answer_s[0] + 2.0, first_answer_s
    assert figures[-1]["processes"] == figures[0]["processes"]
    assert figures[-1]["threads"] <= figures[0]["threads"] + 4, figures
    # after the first session (warm-up: connections the worker keeps), flat: each session's
    # LLM client kept its prewarmed connection open until the garbage collector came (+1 fd a
    # session: 27 -> 31 over five)
    assert figures[-1]["fds"] <= figures[1]["fds"] + 1, figures
    # issue 14: LiveKit Agents preloaded its local turn model into the worker (+244 MB, unused);
    # generous: load moves it little, the longest sentence Piper has spoken does
    assert figures[-1]["rss_bytes"] < AGENT_RSS_CEILING_MB * 1024 * 1024, figures


async def _settled_figures(pid: int, window_s: float = 3.0) -> dict[str, int]:
    """The lowest reading of each figure over ``window_s``: right after a job ends, the worker
    starts its next idle job (seen: +23 threads and descriptors for a moment), which is no
    leak; a leak stays, so the lowest reading still shows it."""
    lowest = tree_figures(pid)
    deadline = time.monotonic() + window_s
    while time.monotonic() < deadline:
        await asyncio.sleep(0.25)
        reading = tree_figures(pid)
        lowest = {key: min(value, reading[key]) for key, value in lowest.items()}
    return lowest


def _agent_jobs(stack: RealStack) -> int:
    import httpx2 as httpx

    port = stack.up.env["VOICE_SIDECAR_PORTS_AGENT_HEALTH"]
    worker = httpx.get(f"http://127.0.0.1:{port}/worker", timeout=5, trust_env=False).json()
    return int(worker.get("active_jobs", 0))  # proto JSON leaves out a zero


async def test_mute_stops_the_agent_hearing(stack: RealStack, speech: SpeechFiles) -> None:
    participant = await stack.join()
    try:
        participant.mute(True)
        await participant.say(read_speech(speech("What is the capital of France?")))
        assert not await until(lambda: bool(participant.user_text()), 4)
        participant.mute(False)
        await participant.say(read_speech(speech("What is the capital of Spain?")))
        assert await _answered(participant, 1, 30)
    finally:
        await participant.leave()
    assert ["spain" in t.lower() for t in participant.user_text()] == [True]
