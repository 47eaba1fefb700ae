"""Run one room-less conversation with the same agent code the room uses."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from livekit.agents import AgentStateChangedEvent, ConversationItemAddedEvent, llm
from livekit.agents.metrics import STTMetrics
from livekit.agents.voice.events import CloseEvent, ErrorEvent
from livekit.agents.voice.transcription.synchronizer import TranscriptSynchronizer

from voice_sidecar.audio_files import FloatAudio, Int16Audio
from voice_sidecar.log import logger
from voice_sidecar.persona import SessionRequest
from voice_sidecar.runtime import SpeechRuntime
from voice_sidecar.session import build_session, close_session_llm
from voice_sidecar.settings import Settings

from .file_input import FileAudioInput, SpokenUtterance
from .file_output import FileAudioOutput, PlaybackSegment

_POLL_S = 0.01


@dataclass(frozen=True)
class Utterance:
    name: str
    samples: FloatAudio
    noise_only: bool = False
    """No speech in it: the agent must not stop for it (a false interruption if it does)."""


@dataclass(frozen=True)
class ConverseOptions:
    barge_in_after_s: float | None = None
    """Each turn after the first starts this far into the agent's reply (barge-in)."""
    lead_in_s: float = 0.5
    gap_s: float = 0.8
    """Silence after the agent finishes before the next turn starts."""
    reply_start_timeout_s: float = 12.0
    """How long to wait for any reaction (thinking or speaking) after a turn."""
    reply_timeout_s: float = 60.0
    noise_dbfs: float | None = None
    noise_watch_s: float = 3.0
    """After a noise-only last utterance, how long to watch the reply before ending."""
    watch_until_reply_ends: bool = False
    """... or until the reply playing under it has ended (played out or dropped), at most
    ``noise_watch_s``: so the history holds what became of it."""


@dataclass
class TurnResult:
    input: str
    user_transcript: str = ""
    agent_text: str = ""
    interrupted: bool = False
    first_audio_latency_s: float | None = None
    end_of_turn_delay_s: float | None = None
    stt_delay_s: float | None = None
    stt_inference_s: float | None = None
    """Whisper's own time for this turn (the rest of ``stt_delay_s`` is the VAD's wait)."""
    llm_ttft_s: float | None = None
    llm_first_sentence_s: float | None = None
    tts_ttfb_s: float | None = None
    framework_e2e_s: float | None = None
    barge_in_reaction_s: float | None = None
    agent_audio_s: float = 0.0
    user_messages: int = 0
    """How many user turns the session heard in this file: more than one means it cut in."""
    replied_during_speech: bool = False
    """The agent started speaking before this file's speech ended (a premature end of turn)."""
    speech_start_s: float = 0.0
    speech_end_s: float = 0.0
    """Seconds from the start of the conversation (positions in the output WAV)."""
    false_interruptions: int = 0
    """Times this turn's reply stopped early while the user was not speaking (noise alone)."""
    over_reply_paused: bool = False
    """This turn's audio started over a reply, and the reply paused after it started."""
    over_reply_resumed: bool = False
    """... and that paused reply played on again."""
    over_reply_cleared: bool = False
    """... or was dropped for good (cleared: the interruption was taken as a turn)."""
    over_reply_resumed_after_s: float | None = None
    """End of this turn's audio until the paused reply resumed."""


@dataclass
class ConversationResult:
    turns: list[TurnResult]
    history: list[dict[str, object]]
    audio: Int16Audio
    sample_rate: int
    errors: list[str] = field(default_factory=list)


class _Observer:
    """Collects what the session reports: chat items, agent states, errors."""

    def __init__(self) -> None:
        self.items: list[llm.ChatMessage] = []
        self.states: list[tuple[float, str]] = []
        self.errors: list[str] = []
        self.stt_runs: list[tuple[float, float]] = []
        """(time.time() when done, seconds of inference) for each recognition."""
        self.changed = asyncio.Event()
        self.closed = False

    def on_item(self, event: ConversationItemAddedEvent) -> None:
        if isinstance(event.item, llm.ChatMessage):
            self.items.append(event.item)
        self.changed.set()

    def on_state(self, event: AgentStateChangedEvent) -> None:
        self.states.append((time.time(), event.new_state))
        self.changed.set()

    def on_stt_metrics(self, metrics: STTMetrics) -> None:
        if not metrics.streamed:
            self.stt_runs.append((metrics.timestamp, metrics.duration))

    def on_error(self, event: ErrorEvent) -> None:
        self.errors.append(f"{type(event.error).__name__}: {getattr(event.error, 'error', '')}")

    def on_close(self, _: CloseEvent) -> None:
        self.closed = True
        self.changed.set()

    @property
    def state(self) -> str:
        return self.states[-1][1] if self.states else "initializing"

    def reacted_since(self, since: float) -> bool:
        return any(at >= since and state in ("thinking", "speaking") for at, state in self.states)

    def spoke_since(self, since: float) -> bool:
        return any(at >= since and state == "speaking" for at, state in self.states)


async def _until(predicate: Callable[[], bool], limit_s: float, observer: _Observer) -> bool:
    """Poll ``predicate`` every 10 ms for up to ``limit_s``; stop early if the session closed."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if predicate() or observer.closed:
            return bool(predicate())
        await asyncio.sleep(_POLL_S)
    return False


async def _await_reply_done(observer: _Observer, since: float, options: ConverseOptions) -> None:
    """Wait until the agent has reacted to speech that ended at ``since`` and is listening again."""
    if not await _until(
        lambda: observer.reacted_since(since), options.reply_start_timeout_s, observer
    ):
        logger.warning("no reply %.0fs after the user's turn", options.reply_start_timeout_s)
        return
    await _until(
        lambda: observer.state in ("listening", "idle") and observer.states[-1][0] >= since,
        options.reply_timeout_s,
        observer,
    )


async def _await_barge_in_point(
    output: FileAudioOutput, observer: _Observer, since: float, options: ConverseOptions
) -> None:
    assert options.barge_in_after_s is not None
    after = options.barge_in_after_s

    def reached() -> bool:
        current = _segment_playing_since(output, since)
        if current is not None and current.played_s >= after:
            return True
        # the reply ended before the barge-in point: interrupt nothing
        return observer.spoke_since(since) and observer.state in ("listening", "idle")

    if not await _until(
        lambda: observer.reacted_since(since), options.reply_start_timeout_s, observer
    ):
        return
    await _until(reached, options.reply_timeout_s, observer)


async def _watch_reply(
    output: FileAudioOutput, said: SpokenUtterance, options: ConverseOptions, observer: _Observer
) -> None:
    under = _segment_under(output.segments, said.speech_start_at)
    if not options.watch_until_reply_ends or under is None:
        await asyncio.sleep(options.noise_watch_s)
        return
    await _until(lambda: under.ended_at is not None, options.noise_watch_s, observer)


def _segment_under(segments: list[PlaybackSegment], at: float) -> PlaybackSegment | None:
    """The reply segment that was playing (or paused) at ``at``."""
    for segment in segments:
        if segment.started_at is None or segment.started_at >= at:
            continue
        if segment.ended_at is not None and segment.ended_at < at:
            continue
        return segment
    return None


def _segment_playing_since(output: FileAudioOutput, since: float) -> PlaybackSegment | None:
    for segment in reversed(output.segments):
        if segment.started_at is not None and segment.started_at >= since:
            return segment
    return None


async def run_conversation(
    runtime: SpeechRuntime,
    settings: Settings,
    request: SessionRequest,
    utterances: Sequence[Utterance],
    options: ConverseOptions | None = None,
    on_turn: Callable[[int, TurnResult], None] | None = None,
) -> ConversationResult:
    """Run the conversation; ``on_turn(index, turn)`` hears of each turn once its reply is
    over, as it happens (in barge-in mode, where the next turn cuts each reply short, all of
    them at the end)."""
    options = options or ConverseOptions()
    origin = time.time()
    audio_in = FileAudioInput(noise_dbfs=options.noise_dbfs)
    audio_out = FileAudioOutput(origin=origin)
    session, agent = build_session(runtime, settings, request)
    observer = _Observer()
    session.on("conversation_item_added", observer.on_item)
    session.on("agent_state_changed", observer.on_state)
    session.on("error", observer.on_error)
    # the STT itself reports each recognition (the session-level event is deprecated)
    if session.stt is not None:
        session.stt.on("metrics_collected", observer.on_stt_metrics)
    session.on("close", observer.on_close)
    # the synchronizer is what RoomIO puts in front of a room's speaker: it reports how much of
    # the reply's text was heard, so an interrupted reply is stored as spoken, not as generated
    synchronizer = TranscriptSynchronizer(next_in_chain_audio=audio_out, next_in_chain_text=None)
    session.input.audio = audio_in
    session.output.audio = synchronizer.audio_output
    session.output.transcription = synchronizer.text_output

    spoken: list[SpokenUtterance] = []

    reported: set[int] = set()

    def finished(*indices: int) -> None:
        if on_turn is None:
            return
        turns = _assemble_turns(utterances, spoken, observer.items, audio_out, origin)
        for index in indices:
            if 0 <= index < len(turns) and index not in reported:
                reported.add(index)
                on_turn(index, turns[index])

    await session.start(agent, record=False)
    try:
        await asyncio.sleep(options.lead_in_s)
        for index, utterance in enumerate(utterances):
            if index > 0:
                previous_end = spoken[-1].speech_end_at
                if options.barge_in_after_s is not None:
                    await _await_barge_in_point(audio_out, observer, previous_end, options)
                else:
                    await _await_reply_done(observer, previous_end, options)
                    finished(index - 1)
                    await asyncio.sleep(options.gap_s)
            if observer.closed:
                break
            spoken.append(await audio_in.say(utterance.samples))
        if spoken and utterances[len(spoken) - 1].noise_only:
            # nothing to answer: watch whether the reply in progress stops for the noise
            await _watch_reply(audio_out, spoken[-1], options, observer)
        elif spoken:
            await _await_reply_done(observer, spoken[-1].speech_end_at, options)
        await asyncio.sleep(0.2)
        finished(*range(len(spoken)))
    finally:
        closing_at = time.time()
        history = session.history.to_dict(exclude_timestamp=False)
        await session.aclose()
        await close_session_llm(session)
        await synchronizer.aclose()
        audio_in.close()
        await audio_out.aclose()

    turns = _assemble_turns(utterances, spoken, observer.items, audio_out, origin)
    _count_false_interruptions(turns, utterances, spoken, audio_out.segments, closing_at)
    for turn, said in list(zip(turns, spoken, strict=False))[1:]:
        _note_reply_under(turn, said, audio_out.segments, closing_at)
    _attach_stt_runs(turns, spoken, observer.stt_runs)
    return ConversationResult(
        turns=turns,
        history=list(history.get("items", [])),
        audio=audio_out.timeline(),
        sample_rate=audio_out.sample_rate_heard or runtime.voice(request.persona.voice).sample_rate,
        errors=observer.errors,
    )


def _metric(message: llm.ChatMessage, key: str) -> float | None:
    value = (message.metrics or {}).get(key)
    return float(value) if isinstance(value, int | float) else None


def _assemble_turns(
    utterances: Sequence[Utterance],
    spoken: list[SpokenUtterance],
    items: list[llm.ChatMessage],
    output: FileAudioOutput,
    origin: float,
) -> list[TurnResult]:
    turns = [TurnResult(input=u.name) for u in utterances[: len(spoken)]]
    owner: int | None = None
    for message in items:
        if message.role == "user":
            owner = _turn_of_user_message(message, spoken)
            if owner is None:
                continue
            turn = turns[owner]
            text = message.text_content or ""
            turn.user_transcript = f"{turn.user_transcript} {text}".strip()
            turn.user_messages += 1
            turn.end_of_turn_delay_s = _metric(message, "end_of_turn_delay")
            turn.stt_delay_s = _metric(message, "transcription_delay")
        elif message.role == "assistant" and owner is not None:
            turn = turns[owner]
            turn.agent_text = f"{turn.agent_text} {message.text_content or ''}".strip()
            turn.interrupted = turn.interrupted or message.interrupted
            if turn.llm_ttft_s is None:
                turn.llm_ttft_s = _metric(message, "llm_node_ttft")
                turn.llm_first_sentence_s = _metric(message, "llm_node_ttfs")
                turn.tts_ttfb_s = _metric(message, "tts_node_ttfb")
                turn.framework_e2e_s = _metric(message, "e2e_latency")

    for index, (turn, said) in enumerate(zip(turns, spoken, strict=False)):
        turn.speech_start_s = said.speech_start_at - origin
        turn.speech_end_s = said.speech_end_at - origin
        next_start = spoken[index + 1].speech_start_at if index + 1 < len(spoken) else float("inf")
        reply = [
            s
            for s in output.segments
            if s.started_at is not None and said.speech_end_at <= s.started_at < next_start
        ]
        if reply and reply[0].started_at is not None:
            turn.first_audio_latency_s = reply[0].started_at - said.speech_end_at
        turn.agent_audio_s = sum(s.played_s for s in reply)
        turn.replied_during_speech = any(
            s.started_at is not None and said.speech_start_at < s.started_at < said.speech_end_at
            for s in output.segments
        )
        if index > 0:
            turn.barge_in_reaction_s = _barge_in_reaction(output.segments, said.speech_start_at)
    return turns


def _note_reply_under(
    turn: TurnResult, said: SpokenUtterance, segments: list[PlaybackSegment], closing_at: float
) -> None:
    """What the reply that was playing when this turn's audio started did about it (a reply
    dropped because the session closed is not counted as ended by the turn)."""
    segment = _segment_under(segments, said.speech_start_at)
    if segment is None:
        return
    start = said.speech_start_at
    # bool(): the speech times are numpy floats, whose comparisons are numpy bools
    turn.over_reply_paused = bool(segment.silenced_at is not None and start <= segment.silenced_at)
    turn.over_reply_cleared = segment.cleared_at is not None and segment.cleared_at < closing_at
    resumed = segment.resumed_at
    turn.over_reply_resumed = turn.over_reply_paused and resumed is not None
    if turn.over_reply_resumed and resumed is not None:
        turn.over_reply_resumed_after_s = resumed - said.speech_end_at


def _attach_stt_runs(
    turns: list[TurnResult], spoken: list[SpokenUtterance], runs: list[tuple[float, float]]
) -> None:
    """The last recognition that finished between a turn's speech end and the next turn."""
    for index, (turn, said) in enumerate(zip(turns, spoken, strict=False)):
        until = spoken[index + 1].speech_start_at if index + 1 < len(spoken) else float("inf")
        mine = [seconds for done, seconds in runs if said.speech_end_at <= done < until]
        if mine:
            turn.stt_inference_s = mine[0]


_SPEECH_EXCUSES_S = 1.5
"""A reply that stops this long after real user speech ended was stopped by that speech."""


def _count_false_interruptions(
    turns: list[TurnResult],
    utterances: Sequence[Utterance],
    spoken: list[SpokenUtterance],
    segments: list[PlaybackSegment],
    closing_at: float,
) -> None:
    """Each reply segment that stopped early (paused or cleared, before the session closed)
    while no real speech was being played is a false interruption of the turn it answers."""
    speech = [
        (said.speech_start_at, said.speech_end_at + _SPEECH_EXCUSES_S)
        for said, utterance in zip(spoken, utterances, strict=False)
        if not utterance.noise_only
    ]
    for segment in segments:
        stopped = segment.silenced_at
        if segment.started_at is None or stopped is None or stopped >= closing_at:
            continue
        if any(start <= stopped <= end for start, end in speech):
            continue
        owner = [i for i, said in enumerate(spoken) if said.speech_end_at <= segment.started_at]
        if owner:
            turns[owner[-1]].false_interruptions += 1


def _turn_of_user_message(message: llm.ChatMessage, spoken: list[SpokenUtterance]) -> int | None:
    """The turn whose audio the message was heard in (by the VAD's speech times)."""
    started = _metric(message, "started_speaking_at")
    stopped = _metric(message, "stopped_speaking_at")
    probe = started if started is not None else stopped
    if probe is None:
        probe = message.created_at
    best: int | None = None
    for index, said in enumerate(spoken):
        if probe >= said.started_at - 0.3:
            best = index
    return best


def _barge_in_reaction(segments: list[PlaybackSegment], speech_start: float) -> float | None:
    for segment in segments:
        if (
            segment.started_at is not None
            and segment.started_at < speech_start
            and segment.silenced_at is not None
            and segment.silenced_at >= speech_start
        ):
            return segment.silenced_at - speech_start
    return None
