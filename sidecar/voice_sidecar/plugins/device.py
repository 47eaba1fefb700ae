"""Which device and compute type a Whisper model runs on: a pure decision."""

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
