"""Finding the frozen sidecar that installers/build.py lays out for Tauri."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import psutil
from installers.build import BUNDLE_DIR_NAME, source_digest
from installers.bundle_size import measure_bundle
from installers.targets import build_host

ROOT = Path(__file__).resolve().parent.parent
VARIABLE = "VOICE_SIDECAR_FROZEN_BIN"


@dataclass(frozen=True)
class FrozenBuild:
    sidecar: Path
    """What Tauri starts: the launcher (one-dir) or the single executable (one-file)."""
    root: Path
    """The Tauri layout: ``binaries/`` and ``resources/``."""

    @property
    def bundle(self) -> Path:
        return self.root / "resources" / BUNDLE_DIR_NAME

    @property
    def internal(self) -> Path | None:
        internal = self.bundle / "_internal"
        return internal if internal.is_dir() else None

    def describe(self) -> str:
        report = measure_bundle(self.bundle if self.internal else self.sidecar)
        kind = "one-dir" if self.internal else "one-file"
        return f"{kind} build {report.total_bytes / 1e6:.0f} MB on disk ({report.files} files)"


def bundle_processes(root: Path) -> set[int]:
    """Running processes whose executable lies inside a build (strays after a run)."""
    found: set[int] = set()
    for proc in psutil.process_iter(["exe"]):
        if (proc.info.get("exe") or "").startswith(str(root)):
            found.add(proc.pid)
    return found


def frozen_build() -> FrozenBuild | None:
    given = os.environ.get(VARIABLE)
    default = ROOT / "dist" / "tauri" / "binaries" / build_host().sidecar_name("voice-sidecar")
    sidecar = Path(given) if given else default
    if not sidecar.is_file():
        if given:  # asked for explicitly (CI): a missing build is an error, not a skip
            raise FileNotFoundError(f"{VARIABLE}={given} is not a file")
        return None
    return FrozenBuild(sidecar=sidecar.resolve(), root=sidecar.resolve().parent.parent)


def frozen_skip_reason() -> str | None:
    """Why the frozen tests cannot run here, or None. A build of other sources is stale."""
    build = frozen_build()
    hint = "run .venv/bin/python -m installers.build --skip-livekit, or set " + VARIABLE
    if build is None:
        return f"no frozen build ({hint})"
    if os.environ.get(VARIABLE):
        return None  # named explicitly (CI): test it as it is
    report = build.root / "build-report.json"
    try:
        built_from = json.loads(report.read_text(encoding="utf-8")).get("source_digest")
    except (OSError, ValueError):
        built_from = None
    if built_from != source_digest():
        return f"the frozen build in {build.root} is older than the sources ({hint})"
    return None
