"""Per-user directories (the entry point decides them; nothing else looks them up)."""

from __future__ import annotations

from pathlib import Path

from platformdirs import user_cache_dir

APP_NAME = "private-assistant"


def default_cache_dir() -> Path:
    return Path(user_cache_dir(APP_NAME, appauthor=False)) / "voice-sidecar"


def default_models_dir() -> Path:
    return default_cache_dir() / "models"
