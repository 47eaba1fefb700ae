"""Turn a model setting (catalog name or path) into files on disk.

Order: an explicit path, the user's models directory, models bundled beside a
frozen executable, models shipped in Python packages. A directory whose
download has not finished never counts. Nothing here touches the network
(fetching is ``manager.py``'s job).
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from pathlib import Path

from voice_sidecar.errors import ModelNotFoundError

from .markers import is_partial
from .packaged import find_packaged_voice, find_packaged_whisper, packaged_names

WHISPER_REQUIRED_FILES = ("model.bin", "config.json")


def looks_like_path(value: str) -> bool:
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


def _installed_whisper(root: Path, model: str) -> Path | None:
    candidate = root / "whisper" / model
    if (candidate / "model.bin").is_file() and not is_partial(candidate):
        return candidate
    return None


def not_found_hint(name: str, catalog_names: Sequence[str], kind: str) -> str:
    """What to do about a model name that is neither installed nor in the catalog: the
    nearest catalog names (never ``models pull`` of a name the catalog does not have)."""
    near = difflib.get_close_matches(name, catalog_names, n=3, cutoff=0.6)
    if not near:
        near = [n for n in catalog_names if n.lower().startswith(name.lower()[:3])][:3]
    if near:
        return f"did you mean {' or '.join(repr(n) for n in near)}? (voice-sidecar models list)"
    return f"voice-sidecar models list shows the {kind} names it knows; or give a path"


def locate_whisper(
    model: str,
    *,
    models_dir: Path,
    cache_dir: Path,
    bundled_dir: Path | None = None,
    catalog_names: Sequence[str] | None = None,
) -> Path:
    """Directory of a CTranslate2 Whisper model named or given by ``model``.

    ``catalog_names``: the catalog's Whisper names, when ``model`` is not one of them: the
    error then suggests the nearest instead of a pull that cannot work."""
    if looks_like_path(model):
        return _check_whisper_dir(Path(model).expanduser(), setting="the STT model setting")
    for root in (models_dir, bundled_dir):
        found = _installed_whisper(root, model) if root is not None else None
        if found is not None:
            return found
    packaged = find_packaged_whisper(model, cache_dir)
    if packaged is not None:
        return packaged
    installed, _ = packaged_names()
    if catalog_names is not None:
        raise ModelNotFoundError(
            f"no Whisper model is called {model!r}; "
            + not_found_hint(model, [*catalog_names, *installed], "Whisper")
        )
    hint = f" (installed: {', '.join(installed)})" if installed else ""
    raise ModelNotFoundError(
        f"Whisper model {model!r} is not installed{hint}; "
        "pass a path to a CTranslate2 model directory or fetch it with "
        f"`voice-sidecar models pull {model}`"
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


def locate_voice(
    voice: str,
    *,
    models_dir: Path,
    bundled_dir: Path | None = None,
    catalog_names: Sequence[str] | None = None,
) -> Path:
    """The ``.onnx`` file of a Piper voice named or given by ``voice`` (``catalog_names``: as
    for ``locate_whisper``)."""
    if looks_like_path(voice):
        return _check_voice_file(Path(voice).expanduser())
    roots = [root for root in (models_dir, bundled_dir) if root is not None]
    for root in roots:
        for candidate in (
            root / "piper" / voice / f"{voice}.onnx",
            root / "piper" / f"{voice}.onnx",
        ):
            if candidate.is_file() and not is_partial(candidate.parent):
                return _check_voice_file(candidate)
    packaged = find_packaged_voice(voice)
    if packaged is not None:
        return _check_voice_file(packaged)
    _, installed = packaged_names()
    if catalog_names is not None:
        raise ModelNotFoundError(
            f"no Piper voice is called {voice!r}; "
            + not_found_hint(voice, [*catalog_names, *installed], "voice")
        )
    hint = f" (installed: {', '.join(installed)})" if installed else ""
    raise ModelNotFoundError(
        f"Piper voice {voice!r} is not installed{hint}; pass a path to a voice .onnx file "
        f"or fetch it with `voice-sidecar models pull {voice}`"
    )
