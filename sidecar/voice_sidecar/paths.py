"""Per-user directories (the entry point decides them; nothing else looks them up)."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from platformdirs import user_cache_dir, user_config_dir, user_log_dir, user_state_dir

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


def default_bin_dir() -> Path:
    """Where fetch-livekit installs livekit-server."""
    return default_cache_dir() / "bin"


def default_state_dir() -> Path:
    """Instance file and the per-run livekit-server config."""
    return Path(user_state_dir(APP_NAME, appauthor=False)) / "voice-sidecar"


def default_log_file() -> Path:
    return Path(user_log_dir(APP_NAME, appauthor=False)) / "voice-sidecar.log"


@dataclass(frozen=True)
class ModelPaths:
    """Where models are looked for (and fetched to): decided once by the entry point."""

    models_dir: Path
    cache_dir: Path
    bundled_dir: Path | None = None
    """``models/`` beside a frozen executable, when there is one."""
