"""Install livekit-server: the official release binary, or the same version built from source.

``fetch-livekit`` and ``start`` both come here. The release download is the
default. When it cannot be reached and Go is installed, the source build of the
same version is offered (``ask``), or done without asking (``from_source``);
otherwise the error names the host, what was tried and every way forward.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from voice_sidecar.errors import DiskFullError, ModelDownloadError, ModelIntegrityError
from voice_sidecar.log import logger
from voice_sidecar.models.progress import ProgressCallback
from voice_sidecar.redaction import host_label

from .fetch import RELEASE_BASE_URL, fetch_livekit
from .locate import ENV_VARIABLE
from .source_build import build_from_source, install_copy
from .version import LIVEKIT_VERSION


@dataclass(frozen=True)
class InstallRequest:
    target_dir: Path
    base_url: str = RELEASE_BASE_URL
    version: str = LIVEKIT_VERSION
    from_source: bool = False
    """Build from source without trying the release download."""
    source_flag: str = "--from-source"
    """The flag that asks for the source build, as the calling command spells it."""
    mirror_flag: str = "--base-url"
    source_cache: Path | None = None
    """Where source builds are kept (default: the user cache)."""


def unreachable_advice(request: InstallRequest, reason: str, *, go_installed: bool) -> str:
    """The one-line message for a release download that failed (a pure function)."""
    mirrored = request.base_url.rstrip("/") != RELEASE_BASE_URL
    where = f"the mirror {host_label(request.base_url)}" if mirrored else "LiveKit's releases"
    ways = []
    if go_installed:
        ways.append(
            f"run again with {request.source_flag} to build the same version from source "
            "with Go (a few minutes, once)"
        )
    if not mirrored:
        ways.append(f"give a mirror with {request.mirror_flag} (the same layout)")
    else:
        ways.append(f"check the mirror URL or drop {request.mirror_flag}")
    ways.append(f"download livekit-server yourself and set {ENV_VARIABLE} to its path")
    return (
        f"livekit-server {request.version} could not be downloaded from {where}: {reason}. "
        f"Check the network or proxy; or {'; or '.join(ways)}"
    )


def install_livekit(
    request: InstallRequest,
    *,
    progress: ProgressCallback | None = None,
    ask: Callable[[str], bool] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Path:
    """The installed binary's path in ``request.target_dir``."""
    if request.from_source:
        return _from_source(request, environ)
    try:
        return fetch_livekit(
            target_dir=request.target_dir,
            version=request.version,
            base_url=request.base_url,
            progress=progress,
        )
    except (ModelIntegrityError, DiskFullError):
        raise  # never papered over by another way of getting the binary
    except ModelDownloadError as exc:
        go_installed = shutil.which("go", path=(environ or {}).get("PATH")) is not None
        question = (
            f"livekit-server {request.version} cannot be downloaded ({exc}). Build the same "
            "version from source with Go instead?"
        )
        if go_installed and ask is not None and ask(question):
            return _from_source(request, environ)
        raise ModelDownloadError(
            unreachable_advice(request, str(exc).rstrip("."), go_installed=go_installed)
        ) from None


def _from_source(request: InstallRequest, environ: Mapping[str, str] | None) -> Path:
    built = build_from_source(
        version=request.version, cache_root=request.source_cache, environ=environ
    )
    installed = install_copy(built, request.target_dir)
    logger.info("livekit-server %s built from source, installed at %s", request.version, installed)
    return installed
