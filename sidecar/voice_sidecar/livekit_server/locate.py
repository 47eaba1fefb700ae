"""Where the livekit-server binary is: the same rules for the app, the scripts and Docker.

Order: beside the sidecar's own executable (where Tauri puts every
``externalBin``), ``LIVEKIT_SERVER_BIN``, the user cache (``fetch-livekit``),
then PATH.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from voice_sidecar.errors import UserFacingError
from voice_sidecar.settings_loader import LAUNCHER_DIR_VARIABLE

from .platform_names import HostPlatform, host_platform

ENV_VARIABLE = "LIVEKIT_SERVER_BIN"


class LiveKitNotFoundError(UserFacingError):
    exit_code = 5


@dataclass(frozen=True)
class FoundBinary:
    path: Path
    how: str


def _is_executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def candidate_paths(
    *,
    executable: Path,
    frozen: bool,
    environ: Mapping[str, str],
    cache_bin_dir: Path,
    host: HostPlatform,
) -> list[tuple[Path, str]]:
    """Every place looked at, in order (a pure function of the facts)."""
    name = f"livekit-server{host.exe_suffix}"
    # the packaged app: Tauri puts livekit-server beside the launcher, not the bundle
    beside: list[tuple[Path, str]] = []
    if environ.get(LAUNCHER_DIR_VARIABLE):
        beside.append((Path(environ[LAUNCHER_DIR_VARIABLE]), "beside the launcher"))
    if frozen:
        beside.append((executable.parent, "beside the sidecar"))
    found = [
        (folder / file_name, how)
        for folder, how in beside
        for file_name in (name, host.sidecar_name("livekit-server"))
    ]
    if environ.get(ENV_VARIABLE):
        found.append((Path(environ[ENV_VARIABLE]), ENV_VARIABLE))
    found.append((cache_bin_dir / name, "user cache (fetch-livekit)"))
    return found


def find_livekit_server(
    *, environ: Mapping[str, str], cache_bin_dir: Path, host: HostPlatform | None = None
) -> FoundBinary:
    host = host or host_platform()
    frozen = bool(getattr(sys, "frozen", False))
    candidates = candidate_paths(
        executable=Path(sys.executable),
        frozen=frozen,
        environ=environ,
        cache_bin_dir=cache_bin_dir,
        host=host,
    )
    for path, how in candidates:
        if how == ENV_VARIABLE and not _is_executable(path):
            raise LiveKitNotFoundError(
                f"{ENV_VARIABLE} points at {path}, which is not an executable file; fix or unset it"
            )
        if _is_executable(path):
            return FoundBinary(path, how)
    on_path = shutil.which("livekit-server", path=environ.get("PATH"))
    if on_path:
        return FoundBinary(Path(on_path), "PATH")
    raise LiveKitNotFoundError(
        "livekit-server was not found; run 'voice-sidecar fetch-livekit' to download it, "
        f"or set {ENV_VARIABLE} to its path"
    )
