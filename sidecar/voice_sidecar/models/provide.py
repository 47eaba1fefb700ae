"""Models for the runtime: found on disk, fetched on first need, repaired when corrupt.

A model setting that is a path is used as given. A catalog name is looked up
in the models directory, beside a frozen executable and in Python packages; if
it is nowhere, it is fetched (unless the settings say offline). If loading an
installed copy fails, the copy is verified; a corrupt copy we own is
quarantined and fetched again instead of being loaded. A name outside the
catalog must already be installed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from voice_sidecar.errors import ModelLoadError
from voice_sidecar.settings import ModelSettings

from .catalog import Catalog, ModelKind, load_catalog
from .locate import locate_voice, locate_whisper, looks_like_path
from .manager import ModelManager
from .progress import ProgressCallback
from .store import ModelStore

T = TypeVar("T")


@dataclass(frozen=True)
class ModelProvider:
    manager: ModelManager
    models_dir: Path
    cache_dir: Path
    bundled_dir: Path | None = None
    progress: ProgressCallback | None = None

    @classmethod
    def create(
        cls,
        settings: ModelSettings,
        *,
        models_dir: Path,
        cache_dir: Path,
        bundled_dir: Path | None = None,
        progress: ProgressCallback | None = None,
        catalog: Catalog | None = None,
    ) -> ModelProvider:
        store = ModelStore(
            models_dir,
            catalog=catalog or load_catalog(),
            cache_dir=cache_dir,
            bundled_dir=bundled_dir,
        )
        return cls(ModelManager(store, settings), models_dir, cache_dir, bundled_dir, progress)

    @property
    def catalog(self) -> Catalog:
        return self.manager.store.catalog

    def _names(self, kind: ModelKind) -> list[str]:
        return [m.name for m in self.catalog.models if m.kind == kind]

    def whisper_path(self, name: str) -> Path:
        """The directory of Whisper model ``name`` (a catalog name or a path)."""
        model = None if looks_like_path(name) else self.catalog.get(name, "whisper")
        if model is None:
            return locate_whisper(
                name,
                models_dir=self.models_dir,
                cache_dir=self.cache_dir,
                bundled_dir=self.bundled_dir,
                catalog_names=None if looks_like_path(name) else self._names("whisper"),
            )
        return self.manager.ensure(model, progress=self.progress).path

    def voice_path(self, name: str) -> Path:
        """The ``.onnx`` file of Piper voice ``name`` (a catalog name or a path)."""
        model = None if looks_like_path(name) else self.catalog.get(name, "piper")
        if model is None:
            return locate_voice(
                name,
                models_dir=self.models_dir,
                bundled_dir=self.bundled_dir,
                catalog_names=None if looks_like_path(name) else self._names("piper"),
            )
        return self.manager.ensure(model, progress=self.progress).path

    def load(self, kind: ModelKind, name: str, path: Path, loader: Callable[[Path], T]) -> T:
        """``loader(path)``; on a load error, repair a corrupt catalog model and load once more."""
        try:
            return loader(path)
        except ModelLoadError as exc:
            model = None if looks_like_path(name) else self.catalog.get(name, kind)
            if model is None:
                raise
            fresh = self.manager.repair(model, str(exc), progress=self.progress)
            if fresh is None:
                raise
            return loader(fresh.path)
