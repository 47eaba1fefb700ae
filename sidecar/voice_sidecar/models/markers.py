"""The files that say whether a model directory is complete.

``.incomplete`` is written before the first byte of a download and ``.complete``
last of all, once every file is verified and in place. A directory with the
first and not the second is a download in progress (or interrupted) and never
counts as installed. ``.complete`` records each file's size, SHA-256 and
modification time, so a cheap ``stat`` at load time notices a file that changed
since it was verified.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

COMPLETE = ".complete"
INCOMPLETE = ".incomplete"
MARKERS = (COMPLETE, INCOMPLETE)


@dataclass(frozen=True)
class FileRecord:
    size: int
    sha256: str
    mtime_ns: int
    verified_by: str = "sha256"


@dataclass(frozen=True)
class Marker:
    name: str
    kind: str
    repo: str
    revision: str
    files: dict[str, FileRecord] = field(default_factory=dict)
    completed_at: str = ""
    commit: str | None = None
    """The commit the server said it served (``X-Repo-Commit``), when it said."""

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": 1,
            "name": self.name,
            "kind": self.kind,
            "repo": self.repo,
            "revision": self.revision,
            "commit": self.commit,
            "completed_at": self.completed_at,
            "files": {
                name: {
                    "size": r.size,
                    "sha256": r.sha256,
                    "mtime_ns": r.mtime_ns,
                    "verified_by": r.verified_by,
                }
                for name, r in self.files.items()
            },
        }


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    with tmp.open("w", encoding="utf-8") as out:
        out.write(text)
        out.flush()
        os.fsync(out.fileno())
    tmp.replace(path)  # atomic: os.replace


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def write_complete(directory: Path, marker: Marker) -> None:
    """Write the completion marker (last step of an install) and drop ``.incomplete``."""
    _write_atomic(directory / COMPLETE, json.dumps(marker.to_json(), indent=2) + "\n")
    (directory / INCOMPLETE).unlink(missing_ok=True)


def write_incomplete(directory: Path, *, name: str, repo: str, revision: str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / COMPLETE).unlink(missing_ok=True)
    info = {"name": name, "repo": repo, "revision": revision, "started_at": now_iso()}
    _write_atomic(directory / INCOMPLETE, json.dumps(info) + "\n")


def is_partial(directory: Path) -> bool:
    """An install that started and did not finish."""
    return (directory / INCOMPLETE).exists() and not (directory / COMPLETE).exists()


def read_marker(directory: Path) -> Marker | None:
    """The completion marker, or None. A legacy marker (not JSON) has no file records."""
    path = directory / COMPLETE
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return None
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return Marker(name=directory.name, kind="", repo="", revision="")
    if not isinstance(data, dict):
        return Marker(name=directory.name, kind="", repo="", revision="")
    files: dict[str, FileRecord] = {}
    raw_files = data.get("files")
    for name, rec in (raw_files if isinstance(raw_files, dict) else {}).items():
        try:
            files[str(name)] = FileRecord(
                size=int(rec["size"]),
                sha256=str(rec["sha256"]),
                mtime_ns=int(rec.get("mtime_ns", 0)),
                verified_by=str(rec.get("verified_by", "sha256")),
            )
        except (KeyError, TypeError, ValueError):
            continue
    return Marker(
        name=str(data.get("name", directory.name)),
        kind=str(data.get("kind", "")),
        repo=str(data.get("repo", "")),
        revision=str(data.get("revision", "")),
        files=files,
        completed_at=str(data.get("completed_at", "")),
        commit=data.get("commit") if isinstance(data.get("commit"), str) else None,
    )


def changed_files(directory: Path, marker: Marker) -> list[str]:
    """Files whose size or modification time differ from the marker (or that are gone)."""
    changed = []
    for name, record in marker.files.items():
        try:
            stat = (directory / name).stat()
        except OSError:
            changed.append(name)
            continue
        if stat.st_size != record.size or (record.mtime_ns and stat.st_mtime_ns != record.mtime_ns):
            changed.append(name)
    return changed
