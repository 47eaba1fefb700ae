"""Target triples and the file names Tauri expects for external binaries.

Tauri's ``bundle.externalBin`` entry ``binaries/voice-sidecar`` is looked up as
``binaries/voice-sidecar-<target-triple>[.exe]`` for the platform being built.
"""

from __future__ import annotations

import platform

# "<os>-<machine>" as platform.system()/machine() report it, lower-cased and normalised
TARGET_TRIPLES: dict[str, str] = {
    "linux-x86_64": "x86_64-unknown-linux-gnu",
    "linux-aarch64": "aarch64-unknown-linux-gnu",
    "windows-x86_64": "x86_64-pc-windows-msvc",
    "windows-aarch64": "aarch64-pc-windows-msvc",
    "darwin-x86_64": "x86_64-apple-darwin",
    "darwin-aarch64": "aarch64-apple-darwin",
}

_MACHINE_ALIASES = {"amd64": "x86_64", "x64": "x86_64", "arm64": "aarch64"}


def host_key(system: str | None = None, machine: str | None = None) -> str:
    system = (system or platform.system()).lower()
    machine = (machine or platform.machine()).lower()
    return f"{system}-{_MACHINE_ALIASES.get(machine, machine)}"


def host_target_triple(system: str | None = None, machine: str | None = None) -> str:
    key = host_key(system, machine)
    try:
        return TARGET_TRIPLES[key]
    except KeyError:
        known = ", ".join(sorted(TARGET_TRIPLES))
        raise ValueError(f"no release target for {key}; supported: {known}") from None


def is_windows_triple(triple: str) -> bool:
    return "-windows-" in triple


def binary_name(stem: str, triple: str) -> str:
    """``voice-sidecar`` + triple -> ``voice-sidecar-x86_64-pc-windows-msvc.exe``."""
    suffix = ".exe" if is_windows_triple(triple) else ""
    return f"{stem}-{triple}{suffix}"
