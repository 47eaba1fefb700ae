"""Where installed models are, and the operations on the models directory.

Installed means any of, in this order (the same order ``locate.py`` uses):

1. the models directory (``<cache>/voice-sidecar/models`` or ``ModelSettings.dir``):
   ``whisper/<name>/`` and ``piper/<name>/<name>.onnx``; a directory whose
   download has not finished (``markers.is_partial``) does not count;
2. models bundled beside a frozen executable (``<exe dir>/models``, same layout);
3. models shipped in Python packages (``packaged.py``).

Only the models directory is ours to change: quarantine and removal touch
nothing else.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from .catalog import Catalog, CatalogModel, ModelKind
from .locking import ModelLock
from .markers import COMPLETE, is_partial, read_marker
from .packaged import (
    PACKAGED_VOICES,
    PACKAGED_WHISPER,
    find_packaged_voice,
    find_packaged_whisper,
    package_dir,
)

Source = Literal["models-dir", "bundled", "package"]
DirState = Literal["complete", "partial", "unmanaged", "absent"]

QUARANTINE_DIR = ".quarantine"
LOCKS_DIR = ".locks"


@dataclass(frozen=True)
class InstalledModel:
    name: str
    kind: ModelKind
    source: Source
    path: Path
    """What the loader takes: a Whisper directory or a voice's ``.onnx`` file."""
    managed: bool
    """Fetched by us: has a completion marker recording each file's hash."""
    catalog: CatalogModel | None

    @property
    def directory(self) -> Path:
        return self.path if self.kind == "whisper" else self.path.parent


def _whisper_in(root: Path, name: str) -> Path | None:
    candidate = root / "whisper" / name
    if (candidate / "model.bin").is_file() and not is_partial(candidate):
        return candidate
    return None


def _voice_in(root: Path, name: str) -> Path | None:
    for candidate in (root / "piper" / name / f"{name}.onnx", root / "piper" / f"{name}.onnx"):
        if candidate.is_file() and not is_partial(candidate.parent):
            return candidate
    return None


def _delete(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


class ModelStore:
    def __init__(
        self,
        root: Path,
        *,
        catalog: Catalog,
        cache_dir: Path,
        bundled_dir: Path | None = None,
    ) -> None:
        self.root = root
        self.catalog = catalog
        self.cache_dir = cache_dir
        self.bundled_dir = bundled_dir

    def directory(self, model: CatalogModel) -> Path:
        """Where a fetched model lives in the models directory."""
        return self.root / model.kind / model.name

    def lock(
        self,
        model: CatalogModel,
        *,
        timeout_s: float | None = None,
        on_wait: Callable[[], None] | None = None,
    ) -> ModelLock:
        path = self.root / LOCKS_DIR / f"{model.kind}-{model.name}.lock"
        return ModelLock(path, timeout_s=timeout_s, on_wait=on_wait)

    def state(self, model: CatalogModel) -> DirState:
        directory = self.directory(model)
        if is_partial(directory):
            return "partial"
        if not (directory / model.primary_file).is_file():
            return "absent"
        marker = read_marker(directory)
        return "complete" if marker is not None and marker.files else "unmanaged"

    def find(self, model: CatalogModel, *, join_parts: bool = True) -> InstalledModel | None:
        """The first installed copy of a catalog model, or None.

        ``join_parts=False`` reports a model shipped in parts without joining them
        (its ``path`` is then the package's data directory, not loadable as is).
        """
        locate = _whisper_in if model.kind == "whisper" else _voice_in
        own = locate(self.root, model.name)
        if own is not None:
            managed = self.state(model) == "complete" and own.parent != self.root / "piper"
            return InstalledModel(model.name, model.kind, "models-dir", own, managed, model)
        if self.bundled_dir is not None:
            bundled = locate(self.bundled_dir, model.name)
            if bundled is not None:
                return InstalledModel(model.name, model.kind, "bundled", bundled, False, model)
        packaged = self._packaged(model, join_parts=join_parts)
        if packaged is not None:
            return InstalledModel(model.name, model.kind, "package", packaged, False, model)
        return None

    def _packaged(self, model: CatalogModel, *, join_parts: bool) -> Path | None:
        if model.kind == "piper":
            return find_packaged_voice(model.name)
        if join_parts:
            return find_packaged_whisper(model.name, self.cache_dir)
        for entry in PACKAGED_WHISPER:
            if entry.name == model.name:
                root = package_dir(entry.package)
                return None if root is None else root / entry.subdir
        return None

    def installed(self, *, join_parts: bool = False) -> list[InstalledModel]:
        """Every installed model: catalog models first, then unknown ones in the models dir."""
        found = [m for m in (self.find(c, join_parts=join_parts) for c in self.catalog) if m]
        known = {(m.kind, m.name) for m in found}
        for kind in ("whisper", "piper"):
            folder = self.root / kind
            if not folder.is_dir():
                continue
            for item in sorted(folder.iterdir()):
                name = item.name.removesuffix(".onnx") if item.is_file() else item.name
                if (kind, name) in known or name.startswith("."):
                    continue
                if kind == "whisper":
                    path = _whisper_in(self.root, name)
                else:
                    path = _voice_in(self.root, name)
                if path is not None:
                    managed = (
                        (path if kind == "whisper" else path.parent).joinpath(COMPLETE).is_file()
                    )
                    found.append(InstalledModel(name, kind, "models-dir", path, managed, None))
                    known.add((kind, name))
        return found

    def packaged_names(self) -> set[str]:
        names = {e.name for e in PACKAGED_WHISPER if package_dir(e.package) is not None}
        return names | {e.name for e in PACKAGED_VOICES if package_dir(e.package) is not None}

    def quarantine(self, model: CatalogModel, reason: str) -> Path:
        """Move a model's directory aside (never loaded again), keeping only the newest copy."""
        source = self.directory(model)
        folder = self.root / QUARANTINE_DIR
        folder.mkdir(parents=True, exist_ok=True)
        prefix = f"{model.kind}-{model.name}-"
        for old in folder.glob(f"{prefix}*"):
            _delete(old)
        target = folder / f"{prefix}{time.strftime('%Y%m%dT%H%M%S')}"
        source.replace(target)
        (target / "QUARANTINED.txt").write_text(reason + "\n", encoding="utf-8")
        return target

    def quarantine_file(self, model: CatalogModel, path: Path, reason: str) -> Path:
        """Keep a downloaded file that failed verification aside, for inspection."""
        folder = self.root / QUARANTINE_DIR
        folder.mkdir(parents=True, exist_ok=True)
        prefix = f"{model.kind}-{model.name}-download"
        for old in folder.glob(f"{prefix}*"):
            _delete(old)
        target = folder / f"{prefix}-{path.name}"
        path.replace(target)
        target.with_name(target.name + ".txt").write_text(reason + "\n", encoding="utf-8")
        return target

    def remove(self, model: CatalogModel) -> list[Path]:
        """Delete a model from the models directory (and its quarantined copies)."""
        removed: list[Path] = []
        directory = self.directory(model)
        if directory.exists():
            shutil.rmtree(directory)
            removed.append(directory)
        if model.kind == "piper":
            for flat in (self.root / "piper" / f"{model.name}.onnx",):
                for path in (flat, flat.with_name(flat.name + ".json")):
                    if path.exists():
                        path.unlink()
                        removed.append(path)
        folder = self.root / QUARANTINE_DIR
        for old in folder.glob(f"{model.kind}-{model.name}-*") if folder.is_dir() else []:
            _delete(old)
            removed.append(old)
        return removed
