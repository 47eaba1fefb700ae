"""Models as ``up`` serves them: fetched before the agent starts, listed and pulled on request,
with progress as ``model_progress`` events (docs/sidecar-protocol.md)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from .events import EventWriter
from .log import logger
from .models.progress import ModelDownloadEvent
from .models.provide import ModelProvider
from .paths import ModelPaths
from .runtime import hardware_decision, model_provider
from .settings import Settings


def progress_event(event: ModelDownloadEvent) -> dict[str, Any]:
    """Our download event in the protocol's ``model_progress`` shape."""
    return {
        "model": event.model,
        "kind": event.kind,
        "phase": event.event,
        "file": event.file,
        "bytes": event.bytes,
        "total": event.total,
        "rate_bps": None if event.rate_bps is None else round(event.rate_bps, 1),
        "eta_s": None if event.eta_s is None else round(event.eta_s, 1),
        "done": event.event == "model_download_finished",
        "message": event.message,
    }


@dataclass
class ModelService:
    provider: ModelProvider
    events: EventWriter
    progress: dict[str, dict[str, Any]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _pulling: set[str] = field(default_factory=set)

    @classmethod
    def create(cls, settings: Settings, paths: ModelPaths, events: EventWriter) -> ModelService:
        return cls(model_provider(settings, paths), events)

    def _on_progress(self, event: ModelDownloadEvent) -> None:
        payload = progress_event(event)
        with self._lock:
            self.progress[event.model] = payload
        self.events.emit("model_progress", **payload)

    def prepare(self, settings: Settings) -> None:
        """Find or fetch the configured Whisper model and voice (blocking; run in a thread)."""
        from .plugins.hardware import gather_facts

        provider = ModelProvider(
            self.provider.manager,
            self.provider.models_dir,
            self.provider.cache_dir,
            self.provider.bundled_dir,
            self._on_progress,
        )
        decision = hardware_decision(settings, gather_facts(), provider.catalog)
        provider.whisper_path(decision.model or settings.stt.model)
        provider.voice_path(settings.persona.voice or settings.tts.voice)

    def list(self) -> list[dict[str, Any]]:
        store = self.provider.manager.store
        with self._lock:
            progress = dict(self.progress)
        return [
            {
                "name": model.name,
                "kind": model.kind,
                "installed": store.find(model, join_parts=False) is not None,
                "size_bytes": model.total_size,
                "progress": progress.get(model.name),
            }
            for model in self.provider.catalog.models
        ]

    def pull_in_background(self, name: str) -> None:
        """KeyError for a name outside the catalog; a pull already running is not doubled."""
        model = self.provider.catalog.get(name)
        if model is None:
            raise KeyError(name)
        with self._lock:
            if name in self._pulling:
                return
            self._pulling.add(name)

        def pull() -> None:
            try:
                self.provider.manager.pull(model, progress=self._on_progress)
            except Exception as exc:  # noqa: BLE001 - reported to the app, never kills the stack
                logger.error("pulling %s failed: %s", name, exc)
                self.events.error("model_download_failed", f"{name}: {exc}", fatal=False)
            finally:
                with self._lock:
                    self._pulling.discard(name)

        threading.Thread(target=pull, name=f"pull-{name}", daemon=True).start()
