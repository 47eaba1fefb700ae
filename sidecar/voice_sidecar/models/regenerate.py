"""Maintainers: fill a catalog entry's sizes and SHA-256 from a folder of downloaded files.

``voice-sidecar models hash DIR --model NAME [--revision COMMIT] [--write]``.
Each catalog file is looked for in ``DIR`` by its name, then by its repository
path. Files found get their real size and SHA-256 (``verify: sha256``); the
revision is pinned when given. Nothing is ever filled in for a file that is not
there.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from voice_sidecar.errors import UserFacingError

from .catalog import dump_catalog_json, parse_catalog
from .hashing import sha256_file


@dataclass(frozen=True)
class Regenerated:
    entry: dict[str, Any]
    hashed: list[str]
    missing: list[str]


def _find(directory: Path, repo_path: str) -> Path | None:
    for candidate in (directory / Path(repo_path).name, directory / repo_path):
        if candidate.is_file():
            return candidate
    return None


def regenerate_entry(
    entry: dict[str, Any], directory: Path, *, revision: str | None = None
) -> Regenerated:
    """A copy of ``entry`` with the files in ``directory`` hashed."""
    updated = json.loads(json.dumps(entry))
    hashed: list[str] = []
    missing: list[str] = []
    for item in updated["files"]:
        found = _find(directory, item["path"])
        if found is None:
            missing.append(item["path"])
            continue
        item["size"] = found.stat().st_size
        item["sha256"] = sha256_file(found)
        item["verify"] = "sha256"
        hashed.append(item["path"])
    if revision:
        updated["revision"] = revision
        updated["revision_pinned"] = True
    if hashed:
        day = datetime.now(UTC).date().isoformat()
        updated["hash_source"] = (
            f"computed by `voice-sidecar models hash` from downloaded files on {day}"
            + (f" (revision {revision})" if revision else "")
        )
    return Regenerated(updated, hashed, missing)


def update_catalog_file(
    catalog_file: Path, name: str, directory: Path, *, revision: str | None, write: bool
) -> Regenerated:
    if not directory.is_dir():
        raise UserFacingError(f"{directory} is not a folder of downloaded model files")
    data = json.loads(catalog_file.read_text(encoding="utf-8"))
    for index, entry in enumerate(data["models"]):
        if entry["name"] == name or name in entry.get("aliases", []):
            result = regenerate_entry(entry, directory, revision=revision)
            if not result.hashed:
                raise UserFacingError(
                    f"none of {name}'s files are in {directory} "
                    f"(expected {', '.join(Path(f['path']).name for f in entry['files'])})"
                )
            data["models"][index] = result.entry
            parse_catalog(data)  # refuse to write a catalog that would not load
            if write:
                catalog_file.write_text(dump_catalog_json(data), encoding="utf-8")
            return result
    raise UserFacingError(f"{name!r} is not in the catalog {catalog_file}")
