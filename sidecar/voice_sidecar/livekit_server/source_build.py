"""livekit-server built from source with Go, at exactly the pinned version.

For machines that reach the Go module proxy but not LiveKit's release downloads
(CI here, a developer behind a strict proxy). The official release binary stays
what users get (``fetch.py``); this builds the same version from the same tag.

``go install <module>/cmd/server@v<version>`` into a per-user cache folder keyed by
the version, so a second run costs nothing. The binary is built into a temporary
folder beside its final place, checked (``--version`` must report the pinned
version), renamed to ``livekit-server`` and moved into place with ``os.replace``:
an interrupted build never leaves a half-written binary where it is looked for.

Standard library only: ``scripts/build-livekit-server.sh`` runs this module with
nothing but Python (``python -m voice_sidecar.livekit_server.source_build``).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from voice_sidecar.errors import UserFacingError

from .version import GO_PACKAGE, LIVEKIT_VERSION

BUILD_TIMEOUT_S = 1800.0
"""A cold build on a 2-core machine takes about 2 minutes, most of it fetching modules."""


class SourceBuildError(UserFacingError):
    """livekit-server could not be built from source."""

    exit_code = 5  # the same code as "livekit-server not found": the stack cannot start


@dataclass(frozen=True)
class GoFailure:
    """What a failed ``go install`` means, in one line a user can act on."""

    message: str


_UNREACHABLE = re.compile(
    r"(dial tcp|connection refused|no such host|i/o timeout|TLS handshake|"
    r"proxyconnect|network is unreachable|Client\.Timeout)",
    re.IGNORECASE,
)
_NOT_SERVED = re.compile(r"(: (403|404|410)\b|unknown revision|invalid version)")


def explain_go_failure(stderr: str, *, version: str, goproxy: str) -> GoFailure:
    """Go's own error output, reduced to what went wrong and what to do (a pure function)."""
    if _UNREACHABLE.search(stderr):
        return GoFailure(
            f"the Go module proxy ({goproxy}) cannot be reached, so livekit-server {version} "
            "cannot be built; check the network or GOPROXY, or use the official release "
            "binary ('voice-sidecar fetch-livekit')"
        )
    if _NOT_SERVED.search(stderr):
        return GoFailure(
            f"the Go module proxy ({goproxy}) does not serve livekit-server {version}; use the "
            "official release binary ('voice-sidecar fetch-livekit') or another version"
        )
    last = next((line.strip() for line in reversed(stderr.splitlines()) if line.strip()), "")
    detail = f": {last[:300]}" if last else ""
    return GoFailure(f"building livekit-server {version} with Go failed{detail}")


def version_of(binary: Path, *, timeout_s: float = 30.0) -> str | None:
    """The version a livekit-server binary reports (``livekit-server version 1.9.11``)."""
    try:
        done = subprocess.run(
            [str(binary), "--version"],
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    found = re.search(r"version\s+v?(\d+\.\d+\.\d+\S*)", done.stdout + done.stderr)
    return found.group(1) if found else None


def default_source_cache() -> Path:
    """``<user cache>/private-assistant/voice-sidecar/livekit-source`` (platformdirs when it is
    installed; the XDG rule otherwise, which is what platformdirs gives on Linux)."""
    try:
        from voice_sidecar.paths import default_cache_dir
    except ImportError:  # run by the script with nothing installed
        base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        return Path(base) / "private-assistant" / "voice-sidecar" / "livekit-source"
    return default_cache_dir() / "livekit-source"


def binary_name() -> str:
    return "livekit-server.exe" if sys.platform == "win32" else "livekit-server"


def cached_binary(cache_root: Path, version: str) -> Path:
    return cache_root / version / binary_name()


def build_from_source(
    *,
    version: str = LIVEKIT_VERSION,
    cache_root: Path | None = None,
    go: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> Path:
    """The path of livekit-server ``version`` built from source (cached by version).

    Raises SourceBuildError with one line when Go is missing, the proxy cannot be
    reached or does not serve the version, or the result reports another version.
    """
    environ = dict(os.environ if environ is None else environ)
    root = cache_root or default_source_cache()
    final = cached_binary(root, version)
    if final.is_file() and version_of(final) == version:
        return final
    go_path = go or shutil.which("go", path=environ.get("PATH"))
    if not go_path:
        raise SourceBuildError(
            f"Go is not installed, so livekit-server {version} cannot be built from source; "
            "install Go (1.24 or newer) or use the official release binary "
            "('voice-sidecar fetch-livekit')"
        )
    final.parent.mkdir(parents=True, exist_ok=True)
    goproxy = _goproxy(go_path, environ)
    with tempfile.TemporaryDirectory(prefix=".build-", dir=final.parent) as scratch:
        env = environ | {"CGO_ENABLED": "0", "GOBIN": scratch}
        try:
            done = subprocess.run(
                [go_path, "install", f"{GO_PACKAGE}@v{version}"],
                env=env,
                capture_output=True,
                text=True,
                timeout=BUILD_TIMEOUT_S,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise SourceBuildError(
                f"building livekit-server {version} took over {BUILD_TIMEOUT_S:.0f} s and was "
                "stopped; check the network, then run it again (finished downloads are kept)"
            ) from None
        except OSError as exc:
            raise SourceBuildError(f"cannot run Go ({go_path}): {exc.strerror}") from None
        if done.returncode != 0:
            raise SourceBuildError(
                explain_go_failure(done.stderr, version=version, goproxy=goproxy).message
            )
        built = Path(scratch) / ("server.exe" if sys.platform == "win32" else "server")
        reported = version_of(built)
        if reported != version:
            raise SourceBuildError(
                f"the livekit-server built from source reports version {reported or 'nothing'}, "
                f"not {version}; refusing to install it"
            )
        built.replace(final)
    return final


def _goproxy(go_path: str, environ: Mapping[str, str]) -> str:
    try:
        done = subprocess.run(
            [go_path, "env", "GOPROXY"],
            env=dict(environ),
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return "GOPROXY"
    return done.stdout.strip().split(",")[0] or "GOPROXY"


def install_copy(source: Path, target_dir: Path) -> Path:
    """Copy a built binary into ``target_dir`` (tmp file, then ``os.replace``)."""
    target_dir.mkdir(parents=True, exist_ok=True)
    final = target_dir / source.name
    tmp = target_dir / f".{source.name}.tmp-{os.getpid()}"
    shutil.copy2(source, tmp)
    tmp.replace(final)
    return final


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="build-livekit-server",
        description=f"Build livekit-server {LIVEKIT_VERSION} (the pinned version) from source "
        "with Go and print the binary's path. A second run is instant.",
    )
    parser.add_argument("--version", default=LIVEKIT_VERSION, help=argparse.SUPPRESS)
    parser.add_argument("--cache-dir", type=Path, help="default: the user cache")
    args = parser.parse_args(argv)
    try:
        path = build_from_source(version=args.version, cache_root=args.cache_dir)
    except UserFacingError as exc:
        print(f"build-livekit-server: {exc}", file=sys.stderr)
        return exc.exit_code
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
