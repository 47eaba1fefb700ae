"""What a built bundle is made of: size on disk, file count, and the biggest parts."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TOP_PARTS = 15


@dataclass(frozen=True)
class SizeReport:
    path: Path
    total_bytes: int
    files: int
    parts: list[tuple[str, int]] = field(default_factory=list)
    """Biggest first: a package with its vendored ``<name>.libs`` folder counts as one part."""

    def as_json(self) -> dict[str, Any]:
        return {
            "size_bytes": self.total_bytes,
            "size_mb": round(self.total_bytes / 1e6, 1),
            "files": self.files,
            "parts_mb": {name: round(size / 1e6, 1) for name, size in self.parts[:TOP_PARTS]},
        }

    def render(self) -> str:
        lines = [f"{self.path}: {self.total_bytes / 1e6:.0f} MB in {self.files} files"]
        lines += [f"  {size / 1e6:7.1f} MB  {name}" for name, size in self.parts[:TOP_PARTS]]
        return "\n".join(lines)


def _tree_size(path: Path) -> tuple[int, int]:
    if path.is_symlink():
        return 0, 0
    if path.is_file():
        return path.stat().st_size, 1
    sizes = [p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink()]
    return sum(sizes), len(sizes)


def part_name(entry: str) -> str:
    """``numpy.libs`` -> ``numpy``; shared libraries keep their base name."""
    if entry.endswith(".libs"):
        return entry.removesuffix(".libs")
    return entry


def measure_bundle(path: Path) -> SizeReport:
    total, files = _tree_size(path)
    if path.is_file():
        return SizeReport(path, total, files, [(path.name, total)])
    internal = path / "_internal"
    parts: dict[str, int] = {}
    for entry in sorted(internal.iterdir()) if internal.is_dir() else []:
        size, _ = _tree_size(entry)
        name = part_name(entry.name)
        parts[name] = parts.get(name, 0) + size
    ranked = sorted(parts.items(), key=lambda item: item[1], reverse=True)
    return SizeReport(path, total, files, ranked)
