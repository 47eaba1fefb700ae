"""Whisper that starts during the end-of-turn silence, without splitting the turn.

With ``turn_detection="vad"``, LiveKit Agents 1.8.9 commits a user turn when a final
transcript arrives while its VAD hears silence, or at the VAD's end of speech when a
final transcript is already there (``audio_recognition._process_stt_event`` and
``_on_vad_event`` both call ``_run_eou_detection``). So ``stt.StreamAdapter`` behind the
session's VAD starts Whisper only once the turn's whole silence has passed, and behind a
shorter-silence VAD it emits a final per stretch of speech: a pause mid-sentence that
outlasts the stretch's transcription commits half a sentence.

``SpeculativeSTT`` runs two Silero streams over the same audio: the *turn* VAD, with the
session's settings, whose end of speech therefore falls on the session's end of turn;
and a *segment* VAD with a shorter silence. When the segment VAD hears a pause, Whisper
transcribes everything heard since the turn began, speculatively. Only the turn VAD's
end of speech emits the final transcript: the speculative one when no speech came after
the pause it started at, else a transcription of the whole turn.

One more wait keeps mid-sentence pauses safe: the final transcript goes out no sooner
than ``resume_grace_s`` after the turn VAD's end of speech, and not at all if the user
speaks again by then (the turn goes on, its audio kept). Without Whisper in the way, a
pause just longer than the turn's silence would end the turn; with the framework's
adapter, Whisper's own 0.4 s after the silence had been that grace, by accident.

A speculative result that is still current when Whisper returns (no speech since its
pause) also goes out at once as a ``PREFLIGHT_TRANSCRIPT``: the framework starts its
preemptive generation on it (the LLM, and Piper with ``preemptive_tts``) while the turn's
silence runs on, and holds the reply until the final transcript commits the turn. A
commit whose words differ (the user went on) drops it unheard and out of the history.
The framework lets that reply run on until then (Piper voicing an answer to half a
sentence while the user speaks), so a start of speech after a preflight emits
``preflight_stale``, for the session to drop it at once.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterable
from dataclasses import dataclass
from typing import Any, Literal

from livekit import rtc
from livekit.agents import stt, utils
from livekit.agents.stt.stream_adapter import DEFAULT_STREAM_ADAPTER_API_CONNECT_OPTIONS
from livekit.agents.types import (
    DEFAULT_API_CONNECT_OPTIONS,
    NOT_GIVEN,
    APIConnectOptions,
    NotGivenOr,
)
from livekit.agents.vad import VAD, VADEvent, VADEventType

from voice_sidecar.log import logger


class TurnAudio:
    """The audio of the turn in progress, with a short pre-roll before its first speech.

    Between turns only the last ``preroll_s`` is kept, and never more than ``max_s`` (as
    Silero buffers at most 60 s of speech). ``epoch`` counts starts of speech, so a
    speculative transcription knows whether speech came after it.
    """

    def __init__(self, preroll_s: float, max_s: float = 60.0) -> None:
        self._preroll_s = preroll_s
        self._max_s = max_s
        self._frames: deque[rtc.AudioFrame] = deque()
        self._seconds = 0.0
        self.turn_active = False
        self.segment_active = False
        self.epoch = 0

    def append(self, frame: rtc.AudioFrame) -> None:
        self._frames.append(frame)
        self._seconds += frame.duration
        self._trim(self._max_s)
        if not (self.turn_active or self.segment_active):
            self._trim(self._preroll_s)

    def _trim(self, keep_s: float) -> None:
        while self._frames and self._seconds - self._frames[0].duration >= keep_s - 1e-9:
            self._seconds -= self._frames.popleft().duration

    def snapshot(self) -> list[rtc.AudioFrame]:
        return list(self._frames)

    def speech_started(self) -> None:
        self.segment_active = True
        self.epoch += 1

    def turn_ended(self) -> None:
        """Keep only the pre-roll: the turn's audio is in its VAD event and any speculation."""
        self.turn_active = False
        if not self.segment_active:
            self._trim(self._preroll_s)


@dataclass
class _Speculation:
    epoch: int
    task: asyncio.Task[stt.SpeechEvent]


class SpeculativeSTT(stt.STT[Literal["metrics_collected", "preflight_stale"]]):
    """A non-streaming STT made streaming by two VADs: it transcribes at the short
    silence and answers at the long one."""

    def __init__(
        self,
        *,
        wrapped: stt.STT[Any],
        turn_vad: VAD,
        segment_vad: VAD,
        resume_grace_s: float = 0.15,
        preroll_s: float = 0.5,
        preflight: bool = True,
    ) -> None:
        super().__init__(capabilities=stt.STTCapabilities(streaming=True, interim_results=False))
        self._stt = wrapped
        self._turn_vad = turn_vad
        self._segment_vad = segment_vad
        self._preroll_s = preroll_s
        self._resume_grace_s = resume_grace_s
        self._preflight = preflight
        self._stt.on("metrics_collected", self._on_metrics_collected)

    @property
    def wrapped_stt(self) -> stt.STT[Any]:
        return self._stt

    @property
    def model(self) -> str:
        return self._stt.model

    @property
    def provider(self) -> str:
        return self._stt.provider

    async def _recognize_impl(
        self,
        buffer: utils.AudioBuffer,
        *,
        language: NotGivenOr[str] = NOT_GIVEN,
        conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
    ) -> stt.SpeechEvent:
        return await self._stt.recognize(
            buffer=buffer, language=language, conn_options=conn_options
        )

    def stream(
        self,
        *,
        language: NotGivenOr[str] = NOT_GIVEN,
        conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
    ) -> stt.RecognizeStream:
        return SpeculativeStream(self, language=language, conn_options=conn_options)

    def prewarm(self) -> None:
        self._stt.prewarm()

    def _on_metrics_collected(self, *args: Any, **kwargs: Any) -> None:
        self.emit("metrics_collected", *args, **kwargs)

    async def aclose(self) -> None:
        self._stt.off("metrics_collected", self._on_metrics_collected)


class SpeculativeStream(stt.RecognizeStream):
    def __init__(
        self,
        owner: SpeculativeSTT,
        *,
        language: NotGivenOr[str],
        conn_options: APIConnectOptions,
    ) -> None:
        super().__init__(stt=owner, conn_options=DEFAULT_STREAM_ADAPTER_API_CONNECT_OPTIONS)
        self._owner = owner
        self._language = language
        self._recognize_options = conn_options
        self._audio = TurnAudio(owner._preroll_s)
        self._speculation: _Speculation | None = None
        self._preflight_out = False

    async def _metrics_monitor_task(self, event_aiter: AsyncIterable[stt.SpeechEvent]) -> None:
        async for _ in event_aiter:  # the wrapped STT reports each recognition itself
            pass

    async def _recognize(self, frames: list[rtc.AudioFrame]) -> stt.SpeechEvent:
        return await self._owner.wrapped_stt.recognize(
            buffer=frames, language=self._language, conn_options=self._recognize_options
        )

    async def _speculate(self, frames: list[rtc.AudioFrame], epoch: int) -> stt.SpeechEvent:
        """A transcription at a pause; still current when it returns, it is the preflight."""
        result = await self._recognize(frames)
        if (
            self._owner._preflight
            and self._audio.epoch == epoch
            and result.alternatives
            and result.alternatives[0].text
        ):
            self._event_ch.send_nowait(
                stt.SpeechEvent(
                    type=stt.SpeechEventType.PREFLIGHT_TRANSCRIPT,
                    alternatives=[result.alternatives[0]],
                )
            )
            self._preflight_out = True
        return result

    def _drop_speculation(self) -> None:
        if self._speculation is not None:
            self._speculation.task.cancel()
            self._speculation = None

    def _on_segment_event(self, event: VADEvent) -> None:
        if event.type == VADEventType.START_OF_SPEECH:
            self._audio.speech_started()
            self._drop_speculation()  # the user went on: a queued run is stale
            if self._preflight_out:
                self._preflight_out = False
                self._owner.emit("preflight_stale")
        elif event.type == VADEventType.END_OF_SPEECH:
            self._audio.segment_active = False
            self._drop_speculation()
            task = asyncio.create_task(self._speculate(self._audio.snapshot(), self._audio.epoch))
            task.add_done_callback(_consume_failure)
            self._speculation = _Speculation(self._audio.epoch, task)

    async def _final_for(self) -> stt.SpeechEvent:
        """The turn's transcript: the speculation if it heard all the speech, else a new run
        over all of the turn's audio (the turn VAD's own frames miss what came before a
        pause that outlasted its silence)."""
        speculation, self._speculation = self._speculation, None
        if speculation is not None and speculation.epoch == self._audio.epoch:
            try:
                await asyncio.wait({speculation.task})
            except asyncio.CancelledError:
                speculation.task.cancel()
                raise
            if not speculation.task.cancelled():
                failure = speculation.task.exception()
                if failure is None:
                    return speculation.task.result()
                logger.warning("speculative transcription failed, transcribing again: %s", failure)
        elif speculation is not None:
            speculation.task.cancel()
        return await self._recognize(self._audio.snapshot())

    async def _run(self) -> None:
        turn_stream = self._owner._turn_vad.stream()
        segment_stream = self._owner._segment_vad.stream()

        async def forward_input() -> None:
            async for item in self._input_ch:
                if isinstance(item, self._FlushSentinel):
                    turn_stream.flush()
                    segment_stream.flush()
                    continue
                self._audio.append(item)
                turn_stream.push_frame(item)
                segment_stream.push_frame(item)
            turn_stream.end_input()
            segment_stream.end_input()

        async def follow_segments() -> None:
            async for event in segment_stream:
                self._on_segment_event(event)

        async def follow_turns() -> None:
            async for event in turn_stream:
                if event.type == VADEventType.START_OF_SPEECH:
                    self._audio.turn_active = True
                    self._event_ch.send_nowait(stt.SpeechEvent(stt.SpeechEventType.START_OF_SPEECH))
                elif event.type == VADEventType.END_OF_SPEECH:
                    ended_at = time.monotonic()
                    epoch = self._audio.epoch
                    speech_end_time = (
                        time.time() - event.silence_duration - event.inference_duration
                    )
                    self._event_ch.send_nowait(
                        stt.SpeechEvent(
                            type=stt.SpeechEventType.END_OF_SPEECH,
                            speech_end_time=speech_end_time,
                        )
                    )
                    result = await self._final_for()
                    grace = self._owner._resume_grace_s - (time.monotonic() - ended_at)
                    if grace > 0:
                        await asyncio.sleep(grace)
                    if self._audio.epoch != epoch or self._audio.segment_active:
                        continue  # the user went on: one turn still, its audio kept
                    self._audio.turn_ended()
                    self._preflight_out = False
                    if not result.alternatives or not result.alternatives[0].text:
                        continue
                    self._event_ch.send_nowait(
                        stt.SpeechEvent(
                            type=stt.SpeechEventType.FINAL_TRANSCRIPT,
                            alternatives=[result.alternatives[0]],
                            speech_end_time=speech_end_time,
                        )
                    )

        tasks = [
            asyncio.create_task(forward_input(), name="speculative_stt_input"),
            asyncio.create_task(follow_segments(), name="speculative_stt_segments"),
            asyncio.create_task(follow_turns(), name="speculative_stt_turns"),
        ]
        try:
            await asyncio.gather(*tasks)
        finally:
            self._drop_speculation()
            await utils.aio.cancel_and_wait(*tasks)
            await turn_stream.aclose()
            await segment_stream.aclose()


def _consume_failure(task: asyncio.Task[stt.SpeechEvent]) -> None:
    """A speculation nobody awaits must not log 'exception was never retrieved'."""
    if not task.cancelled():
        task.exception()
