"""The agent's voice in the room goes quiet the moment the user barges in.

LiveKit Agents 1.8.9 pauses its room audio output on an interruption
(``_ParticipantAudioOutput.pause``), but its ``rtc.AudioSource`` queue (200 ms, plus the
50 ms frame being handed over) is dropped only when the output's forwarding task takes its
next frame (``clear_queue`` is commented out in ``pause``): up to 50 ms later when the TTS
is ahead (the frame being handed over must find room first), and not before the whole
queue has played when the TTS is behind (the task waits for a frame), as on a loaded
machine. What it dropped is lost: a false interruption's resume goes on after it.

``PromptPauseAudioOutput`` drops the queue in ``pause`` itself, and puts what it dropped
back in front of the frames still to be sent: the forwarding task parks on it (the pause),
and a resume (a false interruption, ``turn.false_interruption_timeout_s``) plays it first,
so the reply goes on from where the user stopped hearing it. The playhead the framework
reports stays where the audio really stopped. The last ~0.25 s of a reply, once the TTS is
done and all of it is in the source, is left to the framework: its playout wait ends when
the source runs dry, and a clear would end the reply as heard. It plays out, as before.

This reaches into the framework's private room output. ``install`` does so only on the
version it was written and tested against (``VERIFIED_VERSION``: livekit-agents is pinned
in the lock file); on any other it logs one line and leaves the framework's own output.
``tests/test_room_audio.py`` fails when the framework changes what this relies on.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections import deque
from typing import Any

from livekit import rtc
from livekit.agents import __version__ as agents_version
from livekit.agents.voice.room_io import _output as framework_output
from livekit.agents.voice.room_io import room_io as framework_room_io

from .log import logger

VERIFIED_VERSION = "1.8.9"
KEEP_S = 0.5
"""Audio handed to the source that is remembered for a resume: more than its queue holds
(200 ms and the 50 ms frame being handed over)."""
FIGURES_PREFIX = "barge-in figures"
"""Each pause and resume of a reply logs ``barge-in figures {json}`` (``read_figures``)."""

_RELIED_ON = (
    "pause",
    "resume",
    "clear_buffer",
    "_forward_audio",
    "_wait_for_playout",
    "_report_run",
)


class RememberingAudioSource(rtc.AudioSource):
    """An ``rtc.AudioSource`` that remembers the last ``KEEP_S`` of audio it was given: what
    its queue holds is the newest part of it."""

    def __init__(self, sample_rate: int, num_channels: int, *, queue_size_ms: int) -> None:
        super().__init__(sample_rate, num_channels, queue_size_ms=queue_size_ms)
        self.recent: deque[rtc.AudioFrame] = deque()
        self._recent_s = 0.0

    async def capture_frame(self, frame: rtc.AudioFrame) -> None:
        self.recent.append(frame)
        self._recent_s += frame.duration
        while self.recent and self._recent_s - self.recent[0].duration >= KEEP_S:
            self._recent_s -= self.recent.popleft().duration
        await super().capture_frame(frame)

    def tail(self, seconds: float) -> list[rtc.AudioFrame]:
        """The last ``seconds`` of the audio given, oldest first (its first frame cut)."""
        wanted = round(seconds * self.sample_rate)
        frames: list[rtc.AudioFrame] = []
        for frame in reversed(self.recent):
            if wanted <= 0:
                break
            if frame.samples_per_channel <= wanted:
                frames.append(frame)
                wanted -= frame.samples_per_channel
                continue
            channels = frame.num_channels
            data = frame.data[(frame.samples_per_channel - wanted) * channels :]
            frames.append(rtc.AudioFrame(data.tobytes(), frame.sample_rate, channels, wanted))
            wanted = 0
        frames.reverse()
        return frames


class PromptPauseAudioOutput(framework_output._ParticipantAudioOutput):
    """The framework's room audio output, whose pause silences the track at once."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        framework_source = self._audio_source
        # the same source (rate, channels, the framework's 200 ms queue), remembering; the
        # framework's own was never published, and goes with its handle
        self._audio_source = RememberingAudioSource(
            framework_source.sample_rate,
            framework_source.num_channels,
            queue_size_ms=QUEUE_SIZE_MS,
        )

    def pause(self) -> None:
        paused_at = time.monotonic()
        was_playing = self._playback_enabled.is_set()
        super().pause()
        source = self._audio_source
        assert isinstance(source, RememberingAudioSource)
        queued = source.queued_duration
        drop = queued > 0 and not self._playing_out()
        if drop:
            # the dropped audio goes back in front of what the forwarding task has still to
            # send: it parks on the first frame (the pause), and a resume plays it again
            waiting = []
            while not self._audio_buf.empty():
                waiting.append(self._audio_buf.recv_nowait())
            for frame in source.tail(queued) + waiting:
                self._audio_buf.send_nowait(frame)
            # the playhead stops where the queue began, and that audio is not yet forwarded
            self._source_pushed_duration -= queued
            self._report_run(offset=self._source_pushed_duration, ended_at=time.time())
            source.clear_queue()
        if was_playing and self._pushed_duration:
            figures = {
                "paused_at": round(paused_at, 4),
                "audio_stopped_at": round(time.monotonic() if drop else paused_at + queued, 4),
                "queued_s": round(queued, 3),
                "dropped": drop,
            }
            logger.info("%s %s", FIGURES_PREFIX, json.dumps(figures))

    def resume(self) -> None:
        was_paused = not self._playback_enabled.is_set()
        super().resume()
        if was_paused and self._pushed_duration:  # a reply goes on (not one that ended)
            figures = {"resumed_at": round(time.monotonic(), 4)}
            logger.info("%s %s", FIGURES_PREFIX, json.dumps(figures))

    def _playing_out(self) -> bool:
        """Whether the segment is ended and all of it is in the source: the framework's
        playout wait then ends when the source runs dry, and a clear would end it as played
        with nothing left to resume."""
        flushing = self._flush_task is not None and not self._flush_task.done()
        return flushing and self._forwarding_idle.is_set() and self._audio_buf.empty()


QUEUE_SIZE_MS = 200
"""The framework's own queue (``_ParticipantAudioOutput``): with the queue dropped at the
pause, its size no longer delays a barge-in, and it still covers a stall of the job's loop."""


def framework_mismatch() -> str | None:
    """Why ``PromptPauseAudioOutput`` cannot stand in for the framework's output; None if
    it can."""
    if agents_version != VERIFIED_VERSION:
        return f"livekit-agents {agents_version}, written for {VERIFIED_VERSION}"
    base = getattr(framework_room_io, "_ParticipantAudioOutput", None)
    if base is not framework_output._ParticipantAudioOutput and base is not PromptPauseAudioOutput:
        return "room_io no longer builds its audio output from _output._ParticipantAudioOutput"
    missing = [
        name for name in _RELIED_ON if not hasattr(framework_output._ParticipantAudioOutput, name)
    ]
    if missing:
        return "the room audio output has no " + ", ".join(missing)
    return None


def install() -> bool:
    """Make every room a session opens in this process use ``PromptPauseAudioOutput``
    (``RoomIO`` builds its output from this module attribute). Returns whether it did."""
    problem = framework_mismatch()
    if problem is not None:
        logger.warning(
            "barge-in keeps the framework's slower stop (%s): the agent's voice runs on "
            "for up to 0.25 s after an interruption",
            problem,
        )
        return False
    framework_room_io._ParticipantAudioOutput = PromptPauseAudioOutput  # type: ignore[attr-defined]
    logger.info("barge-in: the room's audio output drops its queue at the pause")
    return True


def read_figures(log_text: str) -> list[dict[str, Any]]:
    """Every pause's figures in a log (the ``FIGURES_PREFIX`` lines), oldest first; times
    are ``time.monotonic()`` of the agent, the clock every process of a machine shares."""
    figures: list[dict[str, Any]] = []
    marker = FIGURES_PREFIX + " "
    for line in log_text.splitlines():
        at = line.find(marker)
        if at >= 0:
            with contextlib.suppress(ValueError):
                figures.append(json.loads(line[at + len(marker) :]))
    return figures
