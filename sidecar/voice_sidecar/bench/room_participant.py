"""A desktop user made of code: joins the voice room through the control API, as the app does.

It publishes a microphone track fed from 16 kHz speech, paced in real time; it
subscribes to the agent's audio and keeps every received frame with its arrival
time; it reads the transcripts (``lk.transcription``), the per-turn latency
(``pa.latency``) and the agent's state. ``bench --room`` and the real-stack tests
measure through it what a user of the app would hear: end of speech to the first
agent audio *received*, after Opus, the network path and the jitter buffer.

Times are ``time.monotonic()`` of this process.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from livekit import rtc

from voice_sidecar.audio_files import SPEECH_SAMPLE_RATE, FloatAudio, float_to_int16
from voice_sidecar.converse.speech_span import find_speech_span

FRAME_S = 0.01
FRAME_SAMPLES = int(SPEECH_SAMPLE_RATE * FRAME_S)
LOUD_DBFS = -40.0
"""A received agent frame louder than this is speech (Opus's comfort noise stays far below)."""
TRANSCRIPTION_TOPIC = "lk.transcription"
LATENCY_TOPIC = "pa.latency"  # the agent worker's topic (agent_worker.LATENCY_TOPIC)
AGENT_STATE_ATTRIBUTE = "lk.agent.state"


@dataclass
class TextStream:
    """One ``lk.transcription`` stream as it arrived."""

    identity: str
    stream_id: str
    attributes: dict[str, str]
    opened_at: float
    text: str = ""
    closed_at: float | None = None
    error: str | None = None

    @property
    def segment_id(self) -> str:
        return self.attributes.get("lk.segment_id", self.stream_id)

    @property
    def final(self) -> bool:
        return self.attributes.get("lk.transcription_final") == "true"


@dataclass(frozen=True)
class Spoken:
    started_at: float
    speech_start_at: float
    speech_end_at: float
    """When the last loud 10 ms frame of the utterance was handed to the microphone track."""
    finished_at: float


@dataclass
class AgentAudio:
    """Every received agent frame: arrival time and loudness, and the samples themselves."""

    arrivals: list[float] = field(default_factory=list)
    dbfs: list[float] = field(default_factory=list)
    chunks: list[np.ndarray[Any, np.dtype[np.int16]]] = field(default_factory=list)

    def add(self, frame: rtc.AudioFrame, at: float) -> None:
        pcm = np.frombuffer(frame.data, dtype=np.int16).copy()
        rms = float(np.sqrt(np.mean(pcm.astype(np.float64) ** 2))) if pcm.size else 0.0
        self.arrivals.append(at)
        self.dbfs.append(20 * np.log10(max(rms, 1e-3) / 32768))
        self.chunks.append(pcm)

    def first_loud_after(self, moment: float) -> float | None:
        for at, level in zip(self.arrivals, self.dbfs, strict=True):
            if at >= moment and level > LOUD_DBFS:
                return at
        return None

    def loud_frames_between(self, start: float, end: float) -> int:
        return sum(
            1
            for at, level in zip(self.arrivals, self.dbfs, strict=True)
            if start <= at < end and level > LOUD_DBFS
        )

    def silent_from(self, moment: float, *, hold_s: float = 0.5) -> float | None:
        """The earliest time after ``moment`` from which ``hold_s`` passes with no loud frame
        (the agent stopped talking); None if it never goes quiet for that long."""
        last_loud = moment
        for at, level in zip(self.arrivals, self.dbfs, strict=True):
            if at < moment:
                continue
            if at - last_loud >= hold_s:
                return last_loud
            if level > LOUD_DBFS:
                last_loud = at
        if self.arrivals and self.arrivals[-1] - last_loud >= hold_s:
            return last_loud
        return None

    def speech(self, start: float = 0.0, end: float = float("inf")) -> FloatAudio:
        """The received audio between two times, as float samples at 16 kHz."""
        picked = [
            chunk for at, chunk in zip(self.arrivals, self.chunks, strict=True) if start <= at < end
        ]
        if not picked:
            return np.zeros(0, dtype=np.float32)
        return (np.concatenate(picked).astype(np.float32) / 32768).astype(np.float32)


@dataclass(frozen=True)
class SessionGrant:
    livekit_url: str
    token: str
    room: str
    identity: str


async def request_session(
    control_url: str, control_token: str, request: dict[str, Any], *, timeout_s: float = 10.0
) -> SessionGrant:
    """``POST /session`` exactly as the desktop app sends it."""
    import httpx2 as httpx

    async with httpx.AsyncClient(timeout=timeout_s, trust_env=False) as client:
        response = await client.post(
            f"{control_url}/session",
            json=request,
            headers={"Authorization": f"Bearer {control_token}"},
        )
    response.raise_for_status()
    body = response.json()
    return SessionGrant(body["livekit_url"], body["token"], body["room"], body["identity"])


class RoomParticipant:
    """One user in one room; ``async with`` it, or call ``connect`` and ``leave``."""

    def __init__(self, *, noise_dbfs: float | None = None) -> None:
        """``noise_dbfs``: white noise at this level under everything the microphone sends,
        speech and silence alike, as a room's background is (the bench's noise scenario)."""
        self.room = rtc.Room()
        self._noise_amplitude = None if noise_dbfs is None else 32768 * 10 ** (noise_dbfs / 20)
        self._noise = np.random.default_rng(7)
        self.agent_audio = AgentAudio()
        self.streams: list[TextStream] = []
        self.latency: list[tuple[float, dict[str, Any]]] = []
        self.agent_states: list[tuple[float, str]] = []
        self.agent_identity: str | None = None
        self.agent_left_at: float | None = None
        """When the agent left the room (livekit-server removed it: it left, or its worker died)."""
        # a short queue, like a microphone's: the source stays full, so its size is added to
        # every uplink delay; 100 ms made barge-in through the room ~0.1 s slower than what a
        # browser's microphone gives (agent took the barge-in after 0.52 s -> 0.42 s, medians)
        self._source = rtc.AudioSource(SPEECH_SAMPLE_RATE, 1, queue_size_ms=20)
        self._tasks: set[asyncio.Future[Any]] = set()
        self._mic_lock = asyncio.Lock()
        self._muted = False
        self._agent_track = asyncio.Event()
        self.room.register_text_stream_handler(TRANSCRIPTION_TOPIC, self._on_transcription)
        self.room.register_text_stream_handler(LATENCY_TOPIC, self._on_latency)
        self.room.on("track_subscribed", self._on_track)
        self.room.on("participant_attributes_changed", self._on_attributes)
        self.room.on("participant_connected", self._on_participant)
        self.room.on("participant_disconnected", self._on_participant_left)

    async def connect(self, grant: SessionGrant) -> None:
        await self.room.connect(grant.livekit_url, grant.token)
        for participant in self.room.remote_participants.values():
            self._on_participant(participant)
        track = rtc.LocalAudioTrack.create_audio_track("microphone", self._source)
        await self.room.local_participant.publish_track(
            track, rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE)
        )
        self._spawn(self._idle_microphone())

    async def __aenter__(self) -> RoomParticipant:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.leave()

    async def leave(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self.room.disconnect()
        await self._source.aclose()

    async def wait_for_agent_audio(self, timeout_s: float) -> None:
        await asyncio.wait_for(self._agent_track.wait(), timeout_s)

    def mute(self, muted: bool) -> None:
        """Like the app's mute button: the track stays, but it carries silence."""
        self._muted = muted

    async def say(self, speech: FloatAudio, *, trailing_silence_s: float = 0.0) -> Spoken:
        """Send 16 kHz speech on the microphone track in real time; returns its times."""
        span = find_speech_span(speech, SPEECH_SAMPLE_RATE)
        samples = float_to_int16(speech)
        speech_start_frame = int(span.start_s / FRAME_S)
        last_loud_frame = max(0, int(np.ceil(span.end_s / FRAME_S)) - 1)
        async with self._mic_lock:
            started = time.monotonic()
            speech_start_at = speech_end_at = started
            for index, offset in enumerate(range(0, len(samples), FRAME_SAMPLES)):
                await self._send(samples[offset : offset + FRAME_SAMPLES], started, index)
                if index == speech_start_frame:
                    speech_start_at = time.monotonic()
                if index == last_loud_frame:
                    speech_end_at = time.monotonic()
            frames_sent = -(-len(samples) // FRAME_SAMPLES)
            silence = np.zeros(FRAME_SAMPLES, dtype=np.int16)
            for index in range(int(trailing_silence_s / FRAME_S)):
                await self._send(silence, started, frames_sent + index)
            return Spoken(started, speech_start_at, speech_end_at, time.monotonic())

    async def _send(
        self, chunk: np.ndarray[Any, np.dtype[np.int16]], started: float, index: int
    ) -> None:
        due = started + index * FRAME_S
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        if len(chunk) < FRAME_SAMPLES:
            chunk = np.pad(chunk, (0, FRAME_SAMPLES - len(chunk)))
        if self._muted:
            chunk = np.zeros(FRAME_SAMPLES, dtype=np.int16)
        elif self._noise_amplitude is not None:
            noisy = chunk + self._noise.normal(0.0, self._noise_amplitude, FRAME_SAMPLES)
            chunk = np.clip(noisy, -32768, 32767).astype(np.int16)
        frame = rtc.AudioFrame(chunk.tobytes(), SPEECH_SAMPLE_RATE, 1, FRAME_SAMPLES)
        await self._source.capture_frame(frame)

    async def _idle_microphone(self) -> None:
        """Silence between utterances, as a real microphone sends (the VAD needs the gap)."""
        silence = np.zeros(FRAME_SAMPLES, dtype=np.int16)
        while True:
            async with self._mic_lock:
                started = time.monotonic()
                for index in range(10):
                    await self._send(silence, started, index)
            await asyncio.sleep(0)

    # -- what arrives ----------------------------------------------------------------------

    def user_text(self, *, final_only: bool = True) -> list[str]:
        return self._texts(lambda s: s.identity == self.room.local_participant.identity, final_only)

    def agent_text(self, *, final_only: bool = True) -> list[str]:
        return self._texts(lambda s: s.identity != self.room.local_participant.identity, final_only)

    def _texts(self, mine: Any, final_only: bool) -> list[str]:
        segments: dict[str, str] = {}
        for stream in self.streams:
            if not mine(stream) or stream.closed_at is None:
                continue
            agent = stream.identity != self.room.local_participant.identity
            # the agent's reply is one delta stream that ends final; a user segment is final
            # when flagged (the desktop's TranscriptAssembler reads them the same way)
            if final_only and not (stream.final or agent):
                continue
            segments[stream.segment_id] = stream.text
        return list(segments.values())

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _on_transcription(self, reader: rtc.TextStreamReader, identity: str) -> None:
        stream = TextStream(
            identity=identity,
            stream_id=reader.info.stream_id,
            attributes=dict(reader.info.attributes or {}),
            opened_at=time.monotonic(),
        )
        self.streams.append(stream)

        async def read() -> None:
            try:
                async for chunk in reader:
                    stream.text += chunk
            except Exception as exc:  # noqa: BLE001 - an aborted stream is data here
                stream.error = str(exc) or type(exc).__name__
            stream.attributes |= dict(reader.info.attributes or {})
            stream.closed_at = time.monotonic()

        self._spawn(read())

    def _on_latency(self, reader: rtc.TextStreamReader, identity: str) -> None:
        async def read() -> None:
            text = await reader.read_all()
            self.latency.append((time.monotonic(), json.loads(text)))

        self._spawn(read())

    def _on_participant(self, participant: rtc.RemoteParticipant) -> None:
        state = participant.attributes.get(AGENT_STATE_ATTRIBUTE)
        if participant.kind == rtc.ParticipantKind.PARTICIPANT_KIND_AGENT or state:
            self.agent_identity = participant.identity
        if state:
            self.agent_states.append((time.monotonic(), state))

    def _on_participant_left(self, participant: rtc.RemoteParticipant) -> None:
        if participant.identity == self.agent_identity:
            self.agent_left_at = time.monotonic()

    def _on_attributes(self, changed: dict[str, str], participant: rtc.Participant) -> None:
        if AGENT_STATE_ATTRIBUTE in changed and participant.identity != (
            self.room.local_participant.identity
        ):
            self.agent_identity = participant.identity
            self.agent_states.append((time.monotonic(), changed[AGENT_STATE_ATTRIBUTE]))

    def _on_track(
        self,
        track: rtc.Track,
        _publication: rtc.RemoteTrackPublication,
        participant: rtc.RemoteParticipant,
    ) -> None:
        if track.kind != rtc.TrackKind.KIND_AUDIO:
            return
        self.agent_identity = participant.identity

        async def listen() -> None:
            stream = rtc.AudioStream(track, sample_rate=SPEECH_SAMPLE_RATE, num_channels=1)
            self._agent_track.set()
            try:
                async for event in stream:
                    self.agent_audio.add(event.frame, time.monotonic())
            finally:
                await stream.aclose()

        self._spawn(listen())
