"""Check installed model files against the hashes we know for them.

A model we fetched is checked against its completion marker (the SHA-256 of
each file as verified at download time); any other copy (bundled, from a
package, placed by hand) against the catalog's SHA-256 where the catalog has
one. A file with no known hash is reported as unchecked, not as good.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from .hashing import sha256_file
from .markers import changed_files, read_marker
from .store import InstalledModel


@dataclass(frozen=True)
class FileCheck:
    name: str
    status: str
    """``ok``, ``missing``, ``size`` (wrong size), ``hash`` (wrong SHA-256) or ``unchecked``."""
    detail: str = ""

    @property
    def bad(self) -> bool:
        return self.status in ("missing", "size", "hash")


@dataclass(frozen=True)
class VerifyReport:
    model: InstalledModel
    files: tuple[FileCheck, ...]
    against: str
    """``marker`` (hashes recorded at download) or ``catalog``."""

    @property
    def ok(self) -> bool:
        return not any(f.bad for f in self.files)

    @property
    def problems(self) -> list[str]:
        return [f"{f.name}: {f.detail}" for f in self.files if f.bad]

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.model.name,
            "kind": self.model.kind,
            "source": self.model.source,
            "path": str(self.model.path),
            "ok": self.ok,
            "checked_against": self.against,
            "files": [{"name": f.name, "status": f.status, "detail": f.detail} for f in self.files],
        }


def _expected(model: InstalledModel) -> tuple[dict[str, tuple[int | None, str | None]], str]:
    marker = read_marker(model.directory) if model.managed else None
    if marker is not None and marker.files:
        return {n: (r.size, r.sha256) for n, r in marker.files.items()}, "marker"
    if model.catalog is None:
        return {}, "catalog"
    return {f.name: (f.size, f.sha256) for f in model.catalog.files}, "catalog"


def _check(directory: Path, name: str, size: int | None, sha256: str | None) -> FileCheck:
    path = directory / name
    if not path.is_file():
        return FileCheck(name, "missing", "the file is missing")
    actual_size = path.stat().st_size
    if size is not None and actual_size != size:
        return FileCheck(name, "size", f"{actual_size} bytes instead of {size}")
    if sha256 is None:
        return FileCheck(name, "unchecked", "no hash known for this file")
    actual = sha256_file(path)
    if actual != sha256:
        return FileCheck(name, "hash", f"SHA-256 {actual[:12]}... instead of {sha256[:12]}...")
    return FileCheck(name, "ok")


def verify_installed(model: InstalledModel, *, only: Iterable[str] | None = None) -> VerifyReport:
    """Hash every file of ``model`` (or just the names in ``only``)."""
    expected, against = _expected(model)
    names = sorted(expected) if only is None else sorted(set(only) & set(expected))
    checks = tuple(_check(model.directory, n, *expected[n]) for n in names)
    return VerifyReport(model=model, files=checks, against=against)


def quick_check(model: InstalledModel) -> VerifyReport | None:
    """At load time: hash only the files that changed since they were verified.

    Returns None when nothing changed (the common case: a ``stat`` per file).
    Only models we fetched carry the records this needs.
    """
    if not model.managed:
        return None
    marker = read_marker(model.directory)
    if marker is None:
        return None
    changed = changed_files(model.directory, marker)
    if not changed:
        return None
    return verify_installed(model, only=changed)
