"""The platforms a release is built for, as ``HostPlatform``s.

Tauri's ``bundle.externalBin`` entry ``binaries/voice-sidecar`` is looked up as
``binaries/voice-sidecar-<target-triple>[.exe]``; the triple and the suffix come from
``voice_sidecar.livekit_server.platform_names``, which also names the livekit-server files
the sidecar looks for, so the build and the sidecar cannot disagree.
"""

from __future__ import annotations

import platform

from voice_sidecar.livekit_server.platform_names import HostPlatform, host_platform

_SYSTEMS = ("linux", "windows", "darwin")
# platform.machine() spellings of the two architectures a release supports
_MACHINES = ("x86_64", "amd64", "x64", "aarch64", "arm64")

RELEASE_TARGETS: tuple[HostPlatform, ...] = tuple(
    HostPlatform(os=system, arch=arch) for system in _SYSTEMS for arch in ("amd64", "arm64")
)


def build_host(system: str | None = None, machine: str | None = None) -> HostPlatform:
    """This machine as a release target; an unsupported one is refused, never misnamed."""
    system = (system or platform.system()).lower()
    machine = (machine or platform.machine()).lower()
    if system not in _SYSTEMS or machine not in _MACHINES:
        known = ", ".join(sorted(target.target_triple for target in RELEASE_TARGETS))
        raise ValueError(f"no release target for {system}-{machine}; supported: {known}")
    return host_platform(system, machine)


def host_target_triple(system: str | None = None, machine: str | None = None) -> str:
    return build_host(system, machine).target_triple


def target_for_triple(triple: str) -> HostPlatform | None:
    return next((t for t in RELEASE_TARGETS if t.target_triple == triple), None)
