"""Gather the facts the hardware decision needs (thin: the decision is in ``device.py``).

CUDA device count from CTranslate2, the GPU's name and free memory from
``nvidia-smi``, whether cuBLAS and cuDNN load (the usual reason faster-whisper
fails on Windows), RAM and CPU cores. NVIDIA's pip packages (``nvidia-cublas-cu12``,
``nvidia-cudnn-cu12``) keep their libraries in ``site-packages/nvidia/*/bin`` on
Windows and ``.../lib`` on Linux, where the loader does not look: those
directories are added before anything loads CUDA.
"""

from __future__ import annotations

import ctypes
import importlib
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from voice_sidecar.log import logger
from voice_sidecar.models.catalog import Catalog

from .device import HardwareFacts, ModelFootprint

CUDA_LIBRARIES: dict[str, dict[str, tuple[str, ...]]] = {
    # CTranslate2 4.5+ is built against CUDA 12 and cuDNN 9.
    "win32": {"cuBLAS": ("cublas64_12.dll",), "cuDNN": ("cudnn64_9.dll",)},
    "linux": {"cuBLAS": ("libcublas.so.12",), "cuDNN": ("libcudnn.so.9",)},
}

_added_dll_dirs: set[str] = set()
"""Process-wide by nature: a DLL directory, once added, serves every later load."""


def site_dirs() -> list[Path]:
    """Directories that may hold an ``nvidia`` package (sys.path, and a frozen app's root)."""
    roots = [Path(p) for p in sys.path if p and Path(p).is_dir()]
    frozen_root = getattr(sys, "_MEIPASS", None)
    if isinstance(frozen_root, str):
        roots.append(Path(frozen_root))
    return roots


def nvidia_library_dirs(roots: Iterable[Path], *, windows: bool) -> list[Path]:
    """``nvidia/<package>/bin`` (Windows) or ``/lib`` (elsewhere) under each root."""
    sub = "bin" if windows else "lib"
    found: list[Path] = []
    for root in roots:
        nvidia = root / "nvidia"
        if nvidia.is_dir():
            found.extend(sorted(d for d in nvidia.glob(f"*/{sub}") if d.is_dir()))
    return found


def add_nvidia_dll_directories() -> list[Path]:
    """On Windows, let the loader find the DLLs of NVIDIA's pip packages; elsewhere a no-op."""
    if sys.platform != "win32":
        return []
    dirs = nvidia_library_dirs(site_dirs(), windows=True)
    for directory in dirs:
        key = str(directory)
        if key in _added_dll_dirs:
            continue
        os.add_dll_directory(key)
        # libraries that CTranslate2 loads lazily use the PATH search, not the DLL directories
        os.environ["PATH"] = key + os.pathsep + os.environ.get("PATH", "")
        _added_dll_dirs.add(key)
        logger.debug("added NVIDIA DLL directory %s", key)
    return dirs


def _load(name: str, dirs: list[Path]) -> str | None:
    """None when ``name`` loads (by name, or from the NVIDIA package dirs); else why not."""
    try:
        ctypes.CDLL(name)
    except OSError as exc:
        error = str(exc).splitlines()[0] if str(exc) else f"{name} not found"
    else:
        return None
    for directory in dirs:
        path = directory / name
        if path.is_file():
            try:
                # global, so CTranslate2's own dlopen of the same soname finds it loaded
                ctypes.CDLL(str(path), mode=getattr(ctypes, "RTLD_GLOBAL", 0))
            except OSError as exc:
                return str(exc).splitlines()[0] if str(exc) else f"{path} does not load"
            return None
    return error


def probe_cuda_libraries(platform: str = sys.platform) -> dict[str, str | None]:
    """Each CUDA library's load error (None when it loads)."""
    key = "win32" if platform == "win32" else "linux"
    dirs = nvidia_library_dirs(site_dirs(), windows=key == "win32")
    results: dict[str, str | None] = {}
    for library, names in CUDA_LIBRARIES[key].items():
        errors = [_load(name, dirs) for name in names]
        results[library] = next((e for e in errors if e), None)
    return results


def parse_nvidia_smi(text: str) -> tuple[str, int, int] | None:
    """``name, free MiB, total MiB`` from the first line of nvidia-smi's CSV."""
    for line in text.splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) >= 3 and parts[-1].isdigit() and parts[-2].isdigit():
            return ", ".join(parts[:-2]), int(parts[-2]), int(parts[-1])
    return None


def query_gpu_memory(
    run: Callable[..., subprocess.CompletedProcess[str]] = subprocess.run,
) -> tuple[str, int, int] | None:
    binary = shutil.which("nvidia-smi")
    if binary is None:
        return None
    try:
        proc = run(
            [
                binary,
                "--query-gpu=name,memory.free,memory.total",
                "--format=csv,noheader,nounits",
            ],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return parse_nvidia_smi(proc.stdout) if proc.returncode == 0 else None


def memory_mb() -> tuple[int | None, int | None]:
    """Total and available RAM in MB (psutil when present, else what the OS says cheaply)."""
    try:
        psutil: Any = importlib.import_module("psutil")
        info = psutil.virtual_memory()
        return int(info.total) // 2**20, int(info.available) // 2**20
    except ImportError:
        pass
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**20
    except (ValueError, OSError, AttributeError):
        return None, None
    return total, None


def cuda_device_count() -> int:
    add_nvidia_dll_directories()
    try:
        import ctranslate2

        return int(ctranslate2.get_cuda_device_count())
    except Exception as exc:  # noqa: BLE001 - a broken CUDA install must not stop the probe
        logger.debug("CTranslate2 could not count CUDA devices: %s", exc)
        return 0


def gather_facts(*, count_devices: Callable[[], int] = cuda_device_count) -> HardwareFacts:
    """The machine as it is now; a second or less (CTranslate2 import, nvidia-smi)."""
    ram, available = memory_mb()
    count = count_devices()
    facts = HardwareFacts(
        cuda_device_count=count,
        ram_mb=ram,
        available_ram_mb=available,
        cpu_count=os.cpu_count() or 1,
    )
    if count == 0:
        return facts
    gpu = query_gpu_memory()
    libraries = probe_cuda_libraries()
    errors = [f"{name}: {error}" for name, error in libraries.items() if error]
    return HardwareFacts(
        cuda_device_count=count,
        gpu_name=gpu[0] if gpu else None,
        free_vram_mb=gpu[1] if gpu else None,
        total_vram_mb=gpu[2] if gpu else None,
        cublas_loads=libraries.get("cuBLAS") is None,
        cudnn_loads=libraries.get("cuDNN") is None,
        cuda_library_error="; ".join(errors) or None,
        ram_mb=ram,
        available_ram_mb=available,
        cpu_count=facts.cpu_count,
    )


def whisper_footprints(catalog: Catalog) -> list[ModelFootprint]:
    return [
        ModelFootprint(
            name=model.name,
            ram_mb=dict(model.memory_mb.get("cpu", {})),
            vram_mb=dict(model.memory_mb.get("cuda", {})),
        )
        for model in catalog.of_kind("whisper")
    ]
