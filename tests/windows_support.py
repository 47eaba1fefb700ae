"""Building and running Windows programs here: a Rust compiler with the Windows standard library
(Debian's ``rustc`` with ``libstd-rust-dev-windows``), the MinGW linker, and Wine to run them.
``.ci/run`` installs all three; elsewhere the tests that need them skip and say what is missing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

WINDOWS_TARGET = "x86_64-pc-windows-gnu"
_RUSTC_CANDIDATES = ("/usr/bin/rustc", "rustc")
_WINE_CANDIDATES = ("wine64", "wine", "/usr/lib/wine/wine64")
_WINESERVER_CANDIDATES = ("wineserver", "/usr/lib/wine/wineserver")
MISSING = (
    "no Windows toolchain here (needs Debian's rustc with libstd-rust-dev-windows, "
    "gcc-mingw-w64-x86-64 and wine64; .ci/run installs them)"
)


def _found(candidates: tuple[str, ...]) -> str | None:
    for candidate in candidates:
        path = shutil.which(candidate) or (candidate if os.access(candidate, os.X_OK) else None)
        if path:
            return path
    return None


def _rustc_with_windows_std() -> str | None:
    for candidate in _RUSTC_CANDIDATES:
        rustc = shutil.which(candidate)
        if rustc is None:
            continue
        probe = subprocess.run(
            [rustc, "--print", "target-libdir", "--target", WINDOWS_TARGET],
            capture_output=True,
            text=True,
            check=False,
        )
        libdir = Path(probe.stdout.strip())
        if probe.returncode == 0 and any(libdir.glob("libstd-*.rlib")):
            return rustc
    return None


@dataclass(frozen=True)
class WindowsToolchain:
    rustc: str
    wine: str
    wineserver: str | None

    def compile(self, source: Path, out: Path) -> Path:
        subprocess.run(
            [
                self.rustc,
                "--edition",
                "2021",
                "--target",
                WINDOWS_TARGET,
                "-C",
                "debuginfo=0",
                "-o",
                str(out),
                str(source),
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        return out

    def environment(self, prefix: Path) -> dict[str, str]:
        return {
            **os.environ,
            "WINEPREFIX": str(prefix),
            "WINEDEBUG": "-all",
            # no Mono or Gecko installer prompts on a fresh prefix
            "WINEDLLOVERRIDES": "mscoree,mshtml=",
        }

    def stop_server(self, prefix: Path) -> None:
        """Wine keeps a server per prefix for a while after its last program; end it now."""
        if self.wineserver:
            subprocess.run(
                [self.wineserver, "-k"], env=self.environment(prefix), check=False, timeout=30
            )


def windows_toolchain() -> WindowsToolchain | None:
    rustc = _rustc_with_windows_std()
    wine = _found(_WINE_CANDIDATES)
    if rustc is None or wine is None or shutil.which("x86_64-w64-mingw32-gcc") is None:
        return None
    return WindowsToolchain(rustc=rustc, wine=wine, wineserver=_found(_WINESERVER_CANDIDATES))
