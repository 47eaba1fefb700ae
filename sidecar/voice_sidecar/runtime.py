"""Loaded speech models, owned by the entry point and shared by every session."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

from livekit.agents import vad as lk_vad

from .log import logger
from .models.locate import locate_voice, locate_whisper
from .plugins.piper import PiperEngine
from .plugins.whisper import WhisperEngine
from .settings import Settings


@dataclass(frozen=True)
class ModelPaths:
    models_dir: Path
    cache_dir: Path


class SpeechRuntime:
    """Whisper, Piper voices and Silero, each loaded once per process."""

    def __init__(
        self,
        *,
        settings: Settings,
        paths: ModelPaths,
        whisper: WhisperEngine,
        vad: lk_vad.VAD,
        voices: dict[str, PiperEngine],
    ) -> None:
        self.settings = settings
        self.paths = paths
        self.whisper = whisper
        self.vad = vad
        self._voices = voices
        self._voices_lock = threading.Lock()
        self.load_seconds: dict[str, float] = {}

    @classmethod
    def load(cls, settings: Settings, paths: ModelPaths) -> SpeechRuntime:
        """Locate and load every model; raises a UserFacingError naming what is missing."""
        from livekit.plugins import silero

        timings: dict[str, float] = {}
        started = time.perf_counter()
        whisper_dir = locate_whisper(
            settings.stt.model, models_dir=paths.models_dir, cache_dir=paths.cache_dir
        )
        voice_path = locate_voice(settings.tts.voice, models_dir=paths.models_dir)
        whisper = WhisperEngine.load(
            whisper_dir,
            name=settings.stt.model if not Path(settings.stt.model).exists() else whisper_dir.name,
            device=settings.stt.device,
            compute_type=settings.stt.compute_type,
            cpu_threads=settings.stt.cpu_threads,
        )
        timings["whisper"] = time.perf_counter() - started
        mark = time.perf_counter()
        voice = PiperEngine.load(voice_path)
        timings["piper"] = time.perf_counter() - mark
        mark = time.perf_counter()
        vad = silero.VAD.load(
            min_silence_duration=settings.turn.vad_min_silence_s,
            activation_threshold=settings.turn.vad_activation_threshold,
            force_cpu=True,
        )
        timings["silero"] = time.perf_counter() - mark
        runtime = cls(
            settings=settings,
            paths=paths,
            whisper=whisper,
            vad=vad,
            voices={settings.tts.voice: voice},
        )
        runtime.load_seconds = timings
        return runtime

    def voice(self, name: str | None = None) -> PiperEngine:
        """The Piper engine for ``name`` (default: the configured voice), loaded on first use."""
        key = name or self.settings.tts.voice
        with self._voices_lock:
            engine = self._voices.get(key)
            if engine is None:
                engine = PiperEngine.load(locate_voice(key, models_dir=self.paths.models_dir))
                self._voices[key] = engine
            return engine

    def warm_up(self) -> None:
        """One inference through each model so the first turn is as fast as later ones."""
        started = time.perf_counter()
        self.whisper.executor.submit(self.whisper.warm_up).result()
        default_voice = self.voice()
        default_voice.executor.submit(default_voice.warm_up).result()
        logger.info("speech models warmed up in %.2fs", time.perf_counter() - started)

    def close(self) -> None:
        self.whisper.close()
        for engine in self._voices.values():
            engine.close()
