"""faster-whisper as a LiveKit Agents STT.

``WhisperEngine`` holds the loaded model; the entry point loads it once and
every session's ``FasterWhisperSTT`` shares it. Inference runs on the engine's
own thread so the event loop never waits on the CPU or GPU.
"""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
from livekit import rtc
from livekit.agents import stt, utils
from livekit.agents.language import LanguageCode
from livekit.agents.types import NOT_GIVEN, APIConnectOptions, NotGivenOr

from voice_sidecar.audio_files import (
    SPEECH_SAMPLE_RATE,
    FloatAudio,
    int16_to_float,
    resample_int16,
)
from voice_sidecar.errors import ModelLoadError, UserFacingError
from voice_sidecar.log import logger

from .device import DeviceChoice, choose_whisper_device
from .hardware import add_nvidia_dll_directories
from .whisper_window import FULL_WINDOW_S, transcribe_windowed


@dataclass(frozen=True)
class Transcript:
    text: str
    language: str
    audio_seconds: float
    inference_seconds: float
    window_s: float = FULL_WINDOW_S
    """The encoder window the text came from: 30 when the short one was not used or trusted."""


class WhisperEngine:
    """A loaded CTranslate2 Whisper model and the single thread that runs it."""

    def __init__(
        self, model: Any, *, name: str, path: Path, choice: DeviceChoice, cpu_threads: int = 0
    ) -> None:
        self._model = model
        self.name = name
        self.path = path
        self.device_choice = choice
        self.cpu_threads = cpu_threads
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="whisper")
        self.queue = QueueWaits()
        """How long each transcription waited for the engine's one thread (conversations at
        once share it): what the load harness reports as Whisper queueing."""

    @classmethod
    def load(
        cls,
        path: Path,
        *,
        name: str | None = None,
        device: str = "auto",
        compute_type: str = "auto",
        cpu_threads: int = 0,
        cuda_device_count: int | None = None,
        choice: DeviceChoice | None = None,
    ) -> WhisperEngine:
        """``choice``, when given (from ``decide_hardware``), replaces the simple decision."""
        add_nvidia_dll_directories()
        import ctranslate2
        from faster_whisper import WhisperModel

        if choice is None:
            count = (
                ctranslate2.get_cuda_device_count()
                if cuda_device_count is None
                else cuda_device_count
            )
            choice = choose_whisper_device(
                requested=device, compute_type=compute_type, cuda_device_count=count
            )
        started = time.perf_counter()
        try:
            model = WhisperModel(
                str(path),
                device=choice.device,
                compute_type=choice.compute_type,
                cpu_threads=cpu_threads,
                local_files_only=True,
            )
        except Exception as exc:
            if choice.device != "cuda":
                raise _load_error(path, exc, choice) from exc
            fallback = DeviceChoice(
                "cpu", "int8", f"CUDA failed to load the model ({_short(exc)}); using the CPU"
            )
            logger.warning("Whisper on CUDA failed, falling back to CPU int8: %s", _short(exc))
            try:
                model = WhisperModel(
                    str(path),
                    device="cpu",
                    compute_type="int8",
                    cpu_threads=cpu_threads,
                    local_files_only=True,
                )
            except Exception as cpu_exc:
                raise _load_error(path, cpu_exc) from cpu_exc
            choice = fallback
        logger.info(
            "Whisper %s loaded on %s/%s in %.2fs (%s)",
            name or path.name,
            choice.device,
            choice.compute_type,
            time.perf_counter() - started,
            choice.reason,
        )
        return cls(model, name=name or path.name, path=path, choice=choice, cpu_threads=cpu_threads)

    def _fall_back_to_cpu(self, exc: BaseException) -> None:
        """CUDA failed at first use (e.g. cuDNN missing): reload on the CPU, once."""
        from faster_whisper import WhisperModel

        reason = f"CUDA failed at first use ({_short(exc)}); using the CPU"
        logger.warning(
            "Whisper on CUDA failed at first inference, falling back to CPU int8: %s", _short(exc)
        )
        try:
            self._model = WhisperModel(
                str(self.path),
                device="cpu",
                compute_type="int8",
                cpu_threads=self.cpu_threads,
                local_files_only=True,
            )
        except Exception as cpu_exc:
            raise _load_error(self.path, cpu_exc) from cpu_exc
        self.device_choice = DeviceChoice("cpu", "int8", reason)

    def _run(
        self, audio: FloatAudio, language: str | None, beam_size: int, window_s: float
    ) -> tuple[str, str, float]:
        if language:
            windowed = transcribe_windowed(
                self._model, audio, language=language, beam_size=beam_size, window_s=window_s
            )
            if windowed is not None:
                return windowed.text, language, windowed.window_s
        segments, info = self._model.transcribe(
            audio,
            language=language,
            beam_size=beam_size,
            vad_filter=False,
            without_timestamps=True,
            condition_on_previous_text=False,
        )
        text = " ".join(segment.text.strip() for segment in segments).strip()
        return text, info.language, FULL_WINDOW_S

    def transcribe(
        self,
        audio: FloatAudio,
        *,
        language: str | None,
        beam_size: int,
        window_s: float = FULL_WINDOW_S,
    ) -> Transcript:
        """Blocking: call through ``executor``. ``window_s`` below 30 tries the shorter encoder
        window first (``whisper_window``); a known ``language`` is needed for it."""
        started = time.perf_counter()
        try:
            text, detected, used = self._run(audio, language, beam_size, window_s)
        except Exception as exc:
            if self.device_choice.device != "cuda":
                raise
            self._fall_back_to_cpu(exc)
            text, detected, used = self._run(audio, language, beam_size, window_s)
        return Transcript(
            text=text,
            language=detected,
            audio_seconds=len(audio) / SPEECH_SAMPLE_RATE,
            inference_seconds=time.perf_counter() - started,
            window_s=used,
        )

    async def transcribe_async(
        self,
        audio: FloatAudio,
        *,
        language: str | None,
        beam_size: int,
        window_s: float = FULL_WINDOW_S,
    ) -> Transcript:
        loop = asyncio.get_running_loop()
        submitted = time.perf_counter()

        def run() -> Transcript:
            self.queue.add(time.perf_counter() - submitted)
            return self.transcribe(audio, language=language, beam_size=beam_size, window_s=window_s)

        return await loop.run_in_executor(self.executor, run)

    def warm_up(self, beam_size: int = 1, window_s: float = FULL_WINDOW_S) -> None:
        """Run one inference so the first real utterance does not pay for allocations (the
        beam's too: run it with the beam size the sessions use), on the full window and, when
        the sessions use one, on the short window (run by itself: its checks refuse silence,
        and the full window needs no second run)."""
        silence = np.zeros(SPEECH_SAMPLE_RATE, dtype=np.float32)
        self.transcribe(silence, language="en", beam_size=beam_size)
        if window_s < FULL_WINDOW_S:
            transcribe_windowed(
                self._model, silence, language="en", beam_size=beam_size, window_s=window_s
            )

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)


class QueueWaits:
    """Counters since the engine started (thread-safe): runs, total and longest wait."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.runs = 0
        self.total_s = 0.0
        self.max_s = 0.0

    def add(self, waited_s: float) -> None:
        with self._lock:
            self.runs += 1
            self.total_s += waited_s
            self.max_s = max(self.max_s, waited_s)

    def line(self) -> str:
        """The log line the load harness reads (``bench.load.parse_queue_line``)."""
        with self._lock:
            return (
                f"whisper queue: runs={self.runs} total_s={self.total_s:.3f} max_s={self.max_s:.3f}"
            )


def _short(exc: BaseException) -> str:
    return str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__


def _load_error(
    path: Path, exc: BaseException, choice: DeviceChoice | None = None
) -> ModelLoadError | UserFacingError:
    """Why a model did not load. A compute type the device cannot run is the setting's fault,
    not the model's: deleting a healthy model would not help."""
    if choice is not None and "compute type" in str(exc).lower():
        import ctranslate2

        supported = sorted(ctranslate2.get_supported_compute_types(choice.device))
        return UserFacingError(
            f"the {choice.device.upper() if choice.device == 'cpu' else choice.device} cannot run "
            f"Whisper with compute type {choice.compute_type!r}; set --stt-compute-type to one of "
            f"{', '.join(supported)} (or auto)"
        )
    return ModelLoadError(
        f"cannot load Whisper model {path}: {_short(exc)}; the files may be corrupt or "
        "incomplete, so delete the directory and install the model again"
    )


def frames_to_speech(buffer: utils.AudioBuffer) -> FloatAudio:
    """Mono float32 at 16 kHz from LiveKit frames of any rate and channel count."""
    frame = rtc.combine_audio_frames(buffer) if isinstance(buffer, list) else buffer
    if frame.samples_per_channel == 0:
        return np.zeros(0, dtype=np.float32)
    pcm = np.frombuffer(frame.data, dtype=np.int16)
    if frame.num_channels > 1:
        pcm = pcm.reshape(-1, frame.num_channels).mean(axis=1).astype(np.int16)
    return int16_to_float(resample_int16(pcm, frame.sample_rate, SPEECH_SAMPLE_RATE))


@dataclass
class _Options:
    language: str | None
    beam_size: int
    window_s: float


class FasterWhisperSTT(stt.STT[Literal["metrics_collected"]]):
    """Non-streaming STT; the session wraps it with its VAD (``stt.StreamAdapter``)."""

    def __init__(
        self,
        *,
        engine: WhisperEngine,
        language: str | None = "en",
        beam_size: int = 2,
        window_s: float = FULL_WINDOW_S,
    ) -> None:
        super().__init__(capabilities=stt.STTCapabilities(streaming=False, interim_results=False))
        self._engine = engine
        self._opts = _Options(language=language, beam_size=beam_size, window_s=window_s)

    @property
    def model(self) -> str:
        return self._engine.name

    @property
    def provider(self) -> str:
        return "faster-whisper"

    @property
    def engine(self) -> WhisperEngine:
        return self._engine

    def update_options(
        self,
        *,
        language: NotGivenOr[str | None] = NOT_GIVEN,
        beam_size: NotGivenOr[int] = NOT_GIVEN,
    ) -> None:
        if utils.is_given(language):
            self._opts = replace(self._opts, language=language)
        if utils.is_given(beam_size):
            self._opts = replace(self._opts, beam_size=beam_size)

    def prewarm(self) -> None:
        self._engine.executor.submit(
            self._engine.warm_up, self._opts.beam_size, self._opts.window_s
        )

    async def _recognize_impl(
        self,
        buffer: utils.AudioBuffer,
        *,
        language: NotGivenOr[str] = NOT_GIVEN,
        conn_options: APIConnectOptions,
    ) -> stt.SpeechEvent:
        lang = language if utils.is_given(language) else self._opts.language
        audio = frames_to_speech(buffer)
        result = await self._engine.transcribe_async(
            audio, language=lang, beam_size=self._opts.beam_size, window_s=self._opts.window_s
        )
        logger.debug(
            "transcribed %.2fs of speech in %.3fs on a %gs window: %r",
            result.audio_seconds,
            result.inference_seconds,
            result.window_s,
            result.text,
        )
        return stt.SpeechEvent(
            type=stt.SpeechEventType.FINAL_TRANSCRIPT,
            request_id=utils.shortuuid(),
            alternatives=[stt.SpeechData(language=LanguageCode(result.language), text=result.text)],
        )
