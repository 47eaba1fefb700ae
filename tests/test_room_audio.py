"""The room's audio output on a barge-in: the framework's own (LiveKit Agents 1.8.9) against
``PromptPauseAudioOutput``, each with a real ``rtc.AudioSource`` (the LiveKit FFI plays its
queue out in real time with no room connected)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
from livekit import rtc
from livekit.agents.voice.io import PlaybackFinishedEvent, PlaybackProgressedEvent
from livekit.agents.voice.room_io import _output as framework_output
from livekit.agents.voice.room_io import room_io as framework_room_io

from voice_sidecar import room_audio
from voice_sidecar.room_audio import PromptPauseAudioOutput

RATE = 24_000
FRAME_S = 0.05
TOLERANCE_S = 0.06
"""The source plays in 10 ms ticks; the loop may be late by a tick or two."""
LATE_S = 0.3
"""How much later than due a loaded 2-core machine may run this test's loop: lateness only
ever adds time, so bounds on that side are loose and the others tight."""


@dataclass
class Played:
    progressed: list[PlaybackProgressedEvent] = field(default_factory=list)
    finished: asyncio.Future[PlaybackFinishedEvent] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )

    @property
    def reported_s(self) -> float:
        return sum(event.duration for event in self.progressed)


def _tone(seconds: float) -> list[rtc.AudioFrame]:
    samples = int(FRAME_S * RATE)
    t = np.arange(samples) / RATE
    pcm = (np.sin(2 * np.pi * 220 * t) * 8000).astype(np.int16).tobytes()
    return [rtc.AudioFrame(pcm, RATE, 1, samples) for _ in range(round(seconds / FRAME_S))]


async def _output(kind: type[Any]) -> AsyncIterator[tuple[Any, Played]]:
    room = rtc.Room()
    output = kind(
        room, sample_rate=RATE, num_channels=1, track_publish_options=rtc.TrackPublishOptions()
    )
    played = Played()
    output.on("playback_progressed", played.progressed.append)

    def finished(event: PlaybackFinishedEvent) -> None:
        if not played.finished.done():
            played.finished.set_result(event)

    output.on("playback_finished", finished)
    # what start() does, less publishing the track: nobody subscribes without a room
    output._subscribed_fut.set_result(None)
    output._forwarding_task = asyncio.create_task(output._forward_audio())
    try:
        yield output, played
    finally:
        await output.aclose()


@pytest.fixture
async def framework() -> AsyncIterator[tuple[Any, Played]]:
    async for pair in _output(framework_output._ParticipantAudioOutput):
        yield pair


@pytest.fixture
async def prompt() -> AsyncIterator[tuple[PromptPauseAudioOutput, Played]]:
    async for pair in _output(PromptPauseAudioOutput):
        yield pair


async def _play(output: Any, seconds: float, *, for_s: float) -> float:
    """Give the output ``seconds`` of audio (faster than real time, as the TTS does), end the
    segment, and return once ``for_s`` of it has been playing."""
    for frame in _tone(seconds):
        await output.capture_frame(frame)
    output.flush()
    started = time.monotonic()
    await asyncio.sleep(for_s)
    return started


def test_install_replaces_the_framework_output_only_on_the_verified_version(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Fails when livekit-agents moves on: re-read its room output (``_output.py``: pause,
    ``_forward_audio``, ``_wait_for_playout``) before raising ``VERIFIED_VERSION``."""
    # the framework's output to begin with; put back as it was afterwards
    monkeypatch.setattr(
        framework_room_io, "_ParticipantAudioOutput", framework_output._ParticipantAudioOutput
    )
    assert room_audio.framework_mismatch() is None
    assert room_audio.install()
    assert _room_io_output() is PromptPauseAudioOutput
    monkeypatch.setattr(room_audio, "agents_version", "1.9.0")
    monkeypatch.setattr(
        framework_room_io, "_ParticipantAudioOutput", framework_output._ParticipantAudioOutput
    )
    assert room_audio.framework_mismatch() == "livekit-agents 1.9.0, written for 1.8.9"
    assert not room_audio.install()
    assert _room_io_output() is framework_output._ParticipantAudioOutput


def _room_io_output() -> object:
    """The class ``RoomIO.start`` builds the room's audio output from."""
    return vars(framework_room_io)["_ParticipantAudioOutput"]


async def test_the_framework_pause_leaves_its_queue_playing(
    framework: tuple[Any, Played],
) -> None:
    """Why ``PromptPauseAudioOutput`` exists: when this fails, the framework drops its queue
    at the pause itself, and the subclass can go."""
    output, _ = framework
    await _play(output, 1.0, for_s=0.3)
    output.pause()
    assert output._audio_source.queued_duration > 0.15
    # the forwarding task drops it once the frame it was handing over has found room
    deadline = time.monotonic() + FRAME_S + LATE_S
    while output._audio_source.queued_duration > 0 and time.monotonic() < deadline:
        await asyncio.sleep(0.005)
    assert output._audio_source.queued_duration == 0


async def test_a_pause_silences_the_source_at_once_and_the_playhead_stays_true(
    prompt: tuple[PromptPauseAudioOutput, Played],
) -> None:
    output, played = prompt
    started = await _play(output, 1.0, for_s=0.4)
    output.pause()
    paused_at = time.monotonic()
    assert output._audio_source.queued_duration == 0
    await asyncio.sleep(0.3)
    heard = paused_at - started
    # what the synchronizer and the history count as heard: what played before the pause
    assert heard - LATE_S <= played.reported_s <= heard + TOLERANCE_S
    output.clear_buffer()  # the interruption stands
    finished = await asyncio.wait_for(played.finished, 2)
    assert finished.interrupted
    assert finished.playback_position == pytest.approx(played.reported_s, abs=0.01)


async def test_a_false_interruption_resumes_where_the_audio_stopped(
    prompt: tuple[PromptPauseAudioOutput, Played],
) -> None:
    """The dropped queue plays first on resume: the whole reply is heard once, and it
    takes its length plus the pause."""
    output, played = prompt
    started = await _play(output, 1.0, for_s=0.4)
    output.pause()
    pause_s = 0.5
    await asyncio.sleep(pause_s)
    output.resume()
    finished = await asyncio.wait_for(played.finished, 3)
    assert not finished.interrupted
    assert finished.playback_position == pytest.approx(1.0, abs=0.01)
    # nothing skipped: the framework's own resume is ~0.2 s short
    assert 1.0 + pause_s - TOLERANCE_S <= time.monotonic() - started <= 1.0 + pause_s + LATE_S
    assert played.reported_s == pytest.approx(1.0, abs=TOLERANCE_S)


async def test_the_framework_loses_its_queue_on_a_false_interruption(
    framework: tuple[Any, Played],
) -> None:
    """The framework's own resume goes on after the queue it dropped (~0.2 s never heard):
    the behaviour the replay fixes. When this fails, it replays too."""
    output, played = framework
    await _play(output, 1.0, for_s=0.4)
    output.pause()
    pause_s = 0.5
    await asyncio.sleep(pause_s)
    output.resume()
    finished = await asyncio.wait_for(played.finished, 3)
    # what it dropped counts as discarded: the reply ends short of its 1.0 s
    assert finished.playback_position < 0.9, finished


async def test_a_pause_while_the_tts_is_behind_silences_the_source_too(
    prompt: tuple[PromptPauseAudioOutput, Played],
) -> None:
    """The forwarding task waits for the TTS with the queue playing (a loaded machine): the
    framework would let it play out; the dropped part plays after the resume."""
    output, played = prompt
    for frame in _tone(0.5):
        await output.capture_frame(frame)
    started = time.monotonic()
    await asyncio.sleep(0.35)
    output.pause()
    assert output._audio_source.queued_duration == 0
    pause_s = 0.4
    await asyncio.sleep(pause_s / 2)
    for frame in _tone(0.5):  # the TTS catches up while the output is paused
        await output.capture_frame(frame)
    output.flush()
    await asyncio.sleep(pause_s / 2)
    output.resume()
    finished = await asyncio.wait_for(played.finished, 3)
    assert not finished.interrupted
    assert finished.playback_position == pytest.approx(1.0, abs=0.01)
    assert 1.0 + pause_s - TOLERANCE_S <= time.monotonic() - started <= 1.0 + pause_s + LATE_S


async def test_two_pauses_in_a_row_replay_each_dropped_part_once(
    prompt: tuple[PromptPauseAudioOutput, Played],
) -> None:
    output, played = prompt
    started = await _play(output, 1.5, for_s=0.3)
    output.pause()
    await asyncio.sleep(0.2)
    output.resume()
    await asyncio.sleep(0.3)
    output.pause()
    await asyncio.sleep(0.2)
    output.resume()
    finished = await asyncio.wait_for(played.finished, 4)
    assert not finished.interrupted
    assert finished.playback_position == pytest.approx(1.5, abs=0.01)
    assert 1.5 + 0.4 - TOLERANCE_S <= time.monotonic() - started <= 1.5 + 0.4 + LATE_S


async def test_the_tail_of_a_reply_plays_out_as_before(
    prompt: tuple[PromptPauseAudioOutput, Played],
) -> None:
    """With every frame in the source, nothing holds the segment open: dropping would end it
    as played, so the last ~0.25 s plays out (the framework's behaviour)."""
    output, played = prompt
    await _play(output, 0.5, for_s=0.35)
    output.pause()
    assert output._audio_source.queued_duration > 0
    finished = await asyncio.wait_for(played.finished, 2)
    assert not finished.interrupted
    assert finished.playback_position == pytest.approx(0.5, abs=0.01)


async def test_the_stop_probe_times_both_outputs() -> None:
    from voice_sidecar.bench.stop_probe import probe

    results = await probe(1)
    assert results[("PromptPauseAudioOutput", True)][0] < 0.01
    assert results[("_ParticipantAudioOutput", True)][0] > 0.1
