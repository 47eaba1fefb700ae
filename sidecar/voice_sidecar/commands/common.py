"""Pieces several commands share: model paths and loading the speech runtime."""

from __future__ import annotations

from pathlib import Path

from voice_sidecar.paths import (
    ModelPaths,
    current_bundled_models_dir,
    default_cache_dir,
    default_models_dir,
)
from voice_sidecar.settings import Settings


def model_paths(settings: Settings) -> ModelPaths:
    models_dir = Path(settings.models.dir) if settings.models.dir else default_models_dir()
    return ModelPaths(
        models_dir=models_dir,
        cache_dir=default_cache_dir(),
        bundled_dir=current_bundled_models_dir(),
    )
