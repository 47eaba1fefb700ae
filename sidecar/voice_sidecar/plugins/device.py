"""Which device, compute type and Whisper model to use: pure decisions over facts.

``choose_whisper_device`` is the simple form (request and CUDA device count);
``decide_hardware`` the whole one (CUDA libraries, free GPU memory, a VRAM
budget, RAM and cores) that also picks the largest model that fits.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DeviceChoice:
    device: str
    compute_type: str
    reason: str


def choose_whisper_device(
    *, requested: str, compute_type: str, cuda_device_count: int
) -> DeviceChoice:
    """``requested`` is auto/cpu/cuda; ``compute_type`` auto or a CTranslate2 type."""
    if requested == "cpu" or (requested == "auto" and cuda_device_count == 0):
        reason = "requested" if requested == "cpu" else "no CUDA device found"
        return DeviceChoice("cpu", "int8" if compute_type == "auto" else compute_type, reason)
    if cuda_device_count == 0:
        return DeviceChoice(
            "cpu",
            "int8",
            "CUDA was requested but no CUDA device is visible; running on the CPU",
        )
    chosen = "float16" if compute_type == "auto" else compute_type
    return DeviceChoice("cuda", chosen, f"{cuda_device_count} CUDA device(s) found")


# --- the whole hardware decision: device, compute type and Whisper model -------------

CUDA_COMPUTE_TYPES = ("float16", "int8_float16")
"""Tried in this order on a GPU: float16 is fastest, int8_float16 halves the weights."""
CPU_COMPUTE_TYPE = "int8"
VRAM_RESERVE_MB = 300
"""Left free on the GPU beyond the estimate (other programs allocate too)."""
RAM_RESERVE_MB = 1024

# Largest first. The latency target rules out large-v3 and medium on a GPU (32 and
# 24 decoder layers; turbo has 4) and, on a CPU, anything past what its cores can
# transcribe in well under a second per utterance.
GPU_LADDER = {
    "multilingual": ("large-v3-turbo", "small", "base", "tiny"),
    "en": ("large-v3-turbo", "small.en", "base.en", "tiny.en"),
}
CPU_LADDER = {
    "multilingual": ((8, "small"), (4, "base"), (0, "tiny")),
    "en": ((8, "small.en"), (4, "base.en"), (0, "tiny.en")),
}
"""(minimum CPU cores, model): the first whose core count the machine has, or smaller."""


@dataclass(frozen=True)
class HardwareFacts:
    """What the machine has, gathered by ``plugins/hardware.py`` (or written by a test)."""

    cuda_device_count: int = 0
    gpu_name: str | None = None
    free_vram_mb: int | None = None
    total_vram_mb: int | None = None
    cublas_loads: bool = True
    cudnn_loads: bool = True
    cuda_library_error: str | None = None
    """Why a CUDA library did not load, e.g. ``cudnn64_9.dll not found``."""
    ram_mb: int | None = None
    available_ram_mb: int | None = None
    cpu_count: int = 1


@dataclass(frozen=True)
class Preferences:
    """What the user asked for; ``auto`` everywhere lets the decision choose."""

    device: str = "auto"
    compute_type: str = "auto"
    language: str | None = "en"
    vram_budget_mb: int = 4500
    model: str | None = None
    """A Whisper model the user chose; None (or ``auto``) lets the decision choose."""


@dataclass(frozen=True)
class ModelFootprint:
    """A Whisper model's estimated memory per device and compute type (from the catalog)."""

    name: str
    ram_mb: dict[str, int]
    vram_mb: dict[str, int]


@dataclass(frozen=True)
class HardwareDecision:
    device: str
    compute_type: str
    model: str | None
    """The Whisper model to use: the user's choice, or the largest that fits."""
    reason: str
    fixes: tuple[str, ...] = ()
    """What the user could do to get a better result (e.g. install cuDNN)."""
    vram_limit_mb: int | None = None

    def device_choice(self) -> DeviceChoice:
        return DeviceChoice(self.device, self.compute_type, self.reason)


def _cuda_blocker(facts: HardwareFacts) -> tuple[str, tuple[str, ...]] | None:
    """Why CUDA cannot be used, and the fixes; None when it can."""
    if facts.cuda_device_count == 0:
        return "no CUDA device found", ()
    missing = [
        name
        for name, loads in (("cuBLAS", facts.cublas_loads), ("cuDNN", facts.cudnn_loads))
        if not loads
    ]
    if not missing:
        return None
    detail = f" ({facts.cuda_library_error})" if facts.cuda_library_error else ""
    packages = {"cuBLAS": "nvidia-cublas-cu12", "cuDNN": "nvidia-cudnn-cu12"}
    fix = (
        f"install {' and '.join(missing)} for CUDA 12 (pip install "
        f"{' '.join(packages[m] for m in missing)}, or NVIDIA's installers) so the GPU can be used"
    )
    return f"a CUDA GPU is present but {' and '.join(missing)} could not be loaded{detail}", (fix,)


def _vram_limit(facts: HardwareFacts, prefs: Preferences) -> int:
    if facts.free_vram_mb is None:
        return prefs.vram_budget_mb
    return max(0, min(prefs.vram_budget_mb, facts.free_vram_mb - VRAM_RESERVE_MB))


def _ladder_key(language: str | None) -> str:
    return "en" if language is not None and language.startswith("en") else "multilingual"


def _fits_gpu(
    footprint: ModelFootprint | None, limit: int, compute_type: str
) -> tuple[str, int | None] | None:
    """The compute type to use on the GPU and its estimate, or None if it does not fit."""
    types = CUDA_COMPUTE_TYPES if compute_type == "auto" else (compute_type,)
    for ctype in types:
        need = None if footprint is None else footprint.vram_mb.get(ctype)
        if need is None or need <= limit:
            return ctype, need
    return None


def _gb(mb: int) -> str:
    return f"{mb / 1024:.1f} GB"


def _cpu_model(facts: HardwareFacts, prefs: Preferences, by_name: dict[str, ModelFootprint]) -> str:
    ladder = CPU_LADDER[_ladder_key(prefs.language)]
    usable = None if facts.available_ram_mb is None else facts.available_ram_mb - RAM_RESERVE_MB
    candidates = [name for cores, name in ladder if facts.cpu_count >= cores]
    for name in candidates:
        need = by_name[name].ram_mb.get(CPU_COMPUTE_TYPE) if name in by_name else None
        if usable is None or need is None or need <= usable:
            return name
    return candidates[-1] if candidates else ladder[-1][1]


def decide_hardware(
    facts: HardwareFacts, prefs: Preferences, footprints: list[ModelFootprint]
) -> HardwareDecision:
    """Device, compute type and Whisper model for these facts; pure, so tested by tables."""
    by_name = {f.name: f for f in footprints}
    pinned = prefs.model if prefs.model not in (None, "auto") else None
    blocker = _cuda_blocker(facts)
    limit = _vram_limit(facts, prefs)
    cpu_type = CPU_COMPUTE_TYPE if prefs.compute_type == "auto" else prefs.compute_type

    def on_cpu(why: str, fixes: tuple[str, ...] = ()) -> HardwareDecision:
        model = pinned or _cpu_model(facts, prefs, by_name)
        return HardwareDecision(
            "cpu", cpu_type, model, f"{why}; {model} on the CPU ({cpu_type})", fixes, None
        )

    if prefs.device == "cpu":
        return on_cpu("the CPU was requested")
    if blocker is not None:
        why, fixes = blocker
        if prefs.device == "cuda":
            why = f"CUDA was requested but {why.removeprefix('a CUDA GPU is present but ')}"
        return on_cpu(why, fixes)
    gpu = facts.gpu_name or "the GPU"
    free = (
        "unknown free memory" if facts.free_vram_mb is None else f"{_gb(facts.free_vram_mb)} free"
    )
    context = f"{gpu} ({free}, budget {_gb(prefs.vram_budget_mb)})"
    names = [pinned] if pinned else list(GPU_LADDER[_ladder_key(prefs.language)])
    for name in names:
        fit = _fits_gpu(by_name.get(name), limit, prefs.compute_type)
        if fit is None:
            continue
        ctype, need = fit
        estimate = "memory need unknown" if need is None else f"needs ~{_gb(need)}"
        largest = "" if pinned else "the largest model that fits, "
        return HardwareDecision(
            "cuda", ctype, name, f"{context}: {name} {ctype}, {largest}{estimate}", (), limit
        )
    smallest = by_name.get(names[-1])
    need = min(smallest.vram_mb.values()) if smallest and smallest.vram_mb else None
    short = f"{names[-1]} needs ~{_gb(need)}" if need else f"{names[-1]} does not fit"
    why = f"not enough GPU memory on {context}: {short}, {_gb(limit)} usable"
    fixes = ("close other programs that use the GPU, or raise the VRAM budget",)
    if prefs.device == "cuda":
        ctype = CUDA_COMPUTE_TYPES[-1] if prefs.compute_type == "auto" else prefs.compute_type
        return HardwareDecision(
            "cuda", ctype, names[-1], f"CUDA was requested, although {why}", fixes, limit
        )
    return on_cpu(why, fixes)
