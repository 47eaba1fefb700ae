"""Target triples (Tauri's sidecar naming) and LiveKit's release asset names."""

from __future__ import annotations

import platform
import sys
from dataclasses import dataclass


@dataclass(frozen=True)
class HostPlatform:
    os: str
    """windows, darwin or linux"""
    arch: str
    """amd64 or arm64 (LiveKit's names)"""

    @property
    def target_triple(self) -> str:
        rust_arch = {"amd64": "x86_64", "arm64": "aarch64"}[self.arch]
        return {
            "windows": f"{rust_arch}-pc-windows-msvc",
            "darwin": f"{rust_arch}-apple-darwin",
            "linux": f"{rust_arch}-unknown-linux-gnu",
        }[self.os]

    @property
    def exe_suffix(self) -> str:
        return ".exe" if self.os == "windows" else ""

    def sidecar_name(self, stem: str) -> str:
        """Tauri's external-binary name: ``livekit-server-x86_64-pc-windows-msvc.exe``."""
        return f"{stem}-{self.target_triple}{self.exe_suffix}"


def host_platform(system: str | None = None, machine: str | None = None) -> HostPlatform:
    system = (system or sys.platform).lower()
    machine = (machine or platform.machine()).lower()
    os_name = (
        "windows"
        if system.startswith(("win", "cygwin"))
        else "darwin"
        if system.startswith("darwin")
        else "linux"
    )
    arch = "arm64" if machine in ("arm64", "aarch64") else "amd64"
    return HostPlatform(os=os_name, arch=arch)
