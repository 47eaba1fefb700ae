"""Per-user directories (the entry point decides them; nothing else looks them up)."""

from __future__ import annotations

import sys
from pathlib import Path

from platformdirs import user_cache_dir, user_config_dir

APP_NAME = "private-assistant"


def default_cache_dir() -> Path:
    return Path(user_cache_dir(APP_NAME, appauthor=False)) / "voice-sidecar"


def default_models_dir() -> Path:
    return default_cache_dir() / "models"


def default_config_file() -> Path:
    return Path(user_config_dir(APP_NAME, appauthor=False)) / "voice-sidecar.toml"


def bundled_models_dir(*, frozen: bool, executable: str) -> Path | None:
    """``models/`` beside a frozen (PyInstaller) executable, where an installer may put models."""
    if not frozen:
        return None
    candidate = Path(executable).resolve().parent / "models"
    return candidate if candidate.is_dir() else None


def current_bundled_models_dir() -> Path | None:
    return bundled_models_dir(frozen=bool(getattr(sys, "frozen", False)), executable=sys.executable)
