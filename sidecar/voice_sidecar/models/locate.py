"""Turn a model setting (catalog name or path) into files on disk.

Order: an explicit path, the user's models directory, models shipped in
Python packages. Nothing here touches the network.
"""

from __future__ import annotations

from pathlib import Path

from voice_sidecar.errors import ModelNotFoundError

from .packaged import find_packaged_voice, find_packaged_whisper, packaged_names

WHISPER_REQUIRED_FILES = ("model.bin", "config.json")


def _looks_like_path(value: str) -> bool:
    return any(sep in value for sep in ("/", "\\")) or value.startswith(".") or Path(value).exists()


def _check_whisper_dir(path: Path, *, setting: str) -> Path:
    if not path.exists():
        raise ModelNotFoundError(f"Whisper model path {path} does not exist; check {setting}")
    if not path.is_dir():
        raise ModelNotFoundError(
            f"{path} is a file; {setting} needs a CTranslate2 Whisper model directory"
        )
    missing = [name for name in WHISPER_REQUIRED_FILES if not (path / name).is_file()]
    if missing:
        raise ModelNotFoundError(
            f"{path} is not a CTranslate2 Whisper model directory (missing {', '.join(missing)})"
        )
    return path


def locate_whisper(model: str, *, models_dir: Path, cache_dir: Path) -> Path:
    """Directory of a CTranslate2 Whisper model named or given by ``model``."""
    if _looks_like_path(model):
        return _check_whisper_dir(Path(model).expanduser(), setting="the STT model setting")
    candidate = models_dir / "whisper" / model
    if (candidate / "model.bin").is_file():
        return candidate
    packaged = find_packaged_whisper(model, cache_dir)
    if packaged is not None:
        return packaged
    installed, _ = packaged_names()
    hint = f" (installed: {', '.join(installed)})" if installed else ""
    raise ModelNotFoundError(
        f"Whisper model {model!r} is not installed{hint}; "
        "pass a path to a CTranslate2 model directory or install the model first"
    )


def _check_voice_file(path: Path) -> Path:
    if not path.is_file():
        raise ModelNotFoundError(f"Piper voice {path} does not exist; check the TTS voice setting")
    if path.suffix != ".onnx":
        raise ModelNotFoundError(f"Piper voice {path} must be an .onnx file")
    config = Path(f"{path}.json")
    if not config.is_file():
        raise ModelNotFoundError(f"Piper voice {path} has no config file beside it ({config.name})")
    return path


def locate_voice(voice: str, *, models_dir: Path) -> Path:
    """The ``.onnx`` file of a Piper voice named or given by ``voice``."""
    if _looks_like_path(voice):
        return _check_voice_file(Path(voice).expanduser())
    for candidate in (
        models_dir / "piper" / voice / f"{voice}.onnx",
        models_dir / "piper" / f"{voice}.onnx",
    ):
        if candidate.is_file():
            return _check_voice_file(candidate)
    packaged = find_packaged_voice(voice)
    if packaged is not None:
        return _check_voice_file(packaged)
    _, installed = packaged_names()
    hint = f" (installed: {', '.join(installed)})" if installed else ""
    raise ModelNotFoundError(
        f"Piper voice {voice!r} is not installed{hint}; pass a path to a voice .onnx file "
        "or install the voice first"
    )
