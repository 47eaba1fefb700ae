"""Loaded speech models, owned by the entry point and shared by every session."""

from __future__ import annotations

import threading
import time

from livekit.agents import vad as lk_vad

from .log import logger
from .models.catalog import Catalog
from .models.locate import locate_voice, looks_like_path
from .models.progress import ProgressCallback
from .models.provide import ModelProvider
from .native_memory import release_free_memory
from .paths import ModelPaths as ModelPaths  # re-exported: its home used to be here
from .plugins.device import HardwareDecision, HardwareFacts, Preferences, decide_hardware
from .plugins.piper import PiperEngine
from .plugins.whisper import WhisperEngine
from .settings import Settings


def hardware_decision(
    settings: Settings, facts: HardwareFacts, catalog: Catalog
) -> HardwareDecision:
    """Device, compute type and (for ``stt.model = auto``) the Whisper model."""
    from .plugins.hardware import whisper_footprints

    stt = settings.stt
    prefs = Preferences(
        device=stt.device,
        compute_type=stt.compute_type,
        language=stt.language,
        vram_budget_mb=settings.models.vram_budget_mb,
        model=None if stt.model == "auto" else stt.model,
    )
    return decide_hardware(facts, prefs, whisper_footprints(catalog))


def model_provider(
    settings: Settings, paths: ModelPaths, *, progress: ProgressCallback | None = None
) -> ModelProvider:
    return ModelProvider.create(
        settings.models,
        models_dir=paths.models_dir,
        cache_dir=paths.cache_dir,
        bundled_dir=paths.bundled_dir,
        progress=progress,
    )


def load_whisper(
    settings: Settings, provider: ModelProvider, *, facts: HardwareFacts | None = None
) -> tuple[WhisperEngine, HardwareDecision]:
    """The hardware decision, then the Whisper model it names: found, fetched or repaired."""
    from .plugins.hardware import gather_facts

    decision = hardware_decision(settings, facts or gather_facts(), provider.catalog)
    name = decision.model or settings.stt.model
    whisper_dir = provider.whisper_path(name)
    engine = provider.load(
        "whisper",
        name,
        whisper_dir,
        lambda path: WhisperEngine.load(
            path,
            name=whisper_dir.name if looks_like_path(name) else name,
            cpu_threads=settings.stt.cpu_threads,
            choice=decision.device_choice(),
        ),
    )
    return engine, decision


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
        provider: ModelProvider | None = None,
    ) -> None:
        self.settings = settings
        self.paths = paths
        self.whisper = whisper
        self.vad = vad
        self._voices = voices
        self._voices_lock = threading.Lock()
        self._provider = provider
        self.load_seconds: dict[str, float] = {}
        self.decision: HardwareDecision | None = None
        self.segment_vad: lk_vad.VAD | None = None
        """A VAD with a shorter silence that starts Whisper early (turn.stt_segment_silence_s)."""

    @classmethod
    def load(
        cls,
        settings: Settings,
        paths: ModelPaths,
        *,
        progress: ProgressCallback | None = None,
        facts: HardwareFacts | None = None,
    ) -> SpeechRuntime:
        """Find (fetching on first need, unless offline) and load every model.

        Raises a UserFacingError naming what is missing or could not be fetched.
        ``progress`` receives download events; ``facts`` replaces the hardware probe.
        """
        from livekit.plugins import silero

        timings: dict[str, float] = {}
        started = time.perf_counter()
        provider = model_provider(settings, paths, progress=progress)
        whisper, decision = load_whisper(settings, provider, facts=facts)
        voice_path = provider.voice_path(settings.tts.voice)
        timings["whisper"] = time.perf_counter() - started
        mark = time.perf_counter()
        voice = provider.load("piper", settings.tts.voice, voice_path, PiperEngine.load)
        timings["piper"] = time.perf_counter() - mark
        mark = time.perf_counter()
        vad = silero.VAD.load(
            min_silence_duration=settings.turn.vad_min_silence_s,
            activation_threshold=settings.turn.vad_activation_threshold,
            force_cpu=True,
        )
        segment_silence = settings.turn.stt_segment_silence_s
        segment_vad = (
            silero.VAD.load(
                min_silence_duration=segment_silence,
                activation_threshold=settings.turn.vad_activation_threshold,
                force_cpu=True,
            )
            if segment_silence is not None and segment_silence < settings.turn.vad_min_silence_s
            else None
        )
        timings["silero"] = time.perf_counter() - mark
        runtime = cls(
            settings=settings,
            paths=paths,
            whisper=whisper,
            vad=vad,
            voices={settings.tts.voice: voice},
            provider=provider,
        )
        runtime.segment_vad = segment_vad
        runtime.load_seconds = timings
        runtime.decision = decision
        return runtime

    def voice(self, name: str | None = None) -> PiperEngine:
        """The Piper engine for ``name`` (default: the configured voice), loaded on first use."""
        key = name or self.settings.tts.voice
        with self._voices_lock:
            engine = self._voices.get(key)
            if engine is None:
                if self._provider is None:
                    engine = PiperEngine.load(locate_voice(key, models_dir=self.paths.models_dir))
                else:
                    provider = self._provider
                    engine = provider.load("piper", key, provider.voice_path(key), PiperEngine.load)
                self._voices[key] = engine
            return engine

    def warm_up(self) -> None:
        """One inference through each model so the first turn is as fast as later ones."""
        started = time.perf_counter()
        stt = self.settings.stt
        self.whisper.executor.submit(self.whisper.warm_up, stt.beam_size, stt.window_s).result()
        default_voice = self.voice()
        default_voice.executor.submit(default_voice.warm_up).result()
        release_free_memory()  # what loading and the first inferences freed
        logger.info("speech models warmed up in %.2fs", time.perf_counter() - started)

    def close(self) -> None:
        self.whisper.close()
        for engine in self._voices.values():
            engine.close()
