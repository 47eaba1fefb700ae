"""The lists and stand-ins the frozen build is made from, checked against the real packages."""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path
from types import ModuleType

import pytest
from installers.bundle_contents import EXCLUDED_MODULES, HIDDEN_IMPORTS
from installers.bundle_size import measure_bundle, part_name
from installers.strip_debug import debug_section_bytes

STUBS = Path(__file__).resolve().parent.parent / "installers" / "stubs"


def _load(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_local_inference_stand_in_matches_the_real_module() -> None:
    real = importlib.import_module("livekit.local_inference")
    stand_in = _load(STUBS / "livekit_local_inference" / "__init__.py", "stand_in_local_inference")
    assert set(real.__all__) <= set(dir(stand_in)), "the framework imports a name the stub lacks"
    assert stand_in.VAD_WINDOW_SAMPLES == real.VAD_WINDOW_SAMPLES
    assert stand_in.EOT_MAX_SAMPLES == real.EOT_MAX_SAMPLES
    with pytest.raises(RuntimeError, match="Silero VAD"):
        stand_in.VAD()
    with pytest.raises(RuntimeError, match="not part of the voice sidecar"):
        stand_in.EOT()


def test_av_stand_in_imports_and_names_what_was_used() -> None:
    stand_in = _load(STUBS / "av" / "__init__.py", "stand_in_av")
    with pytest.raises(ImportError, match=r"PyAV \(FFmpeg\) is not part.*av\.open was used"):
        _ = stand_in.open


def test_every_hidden_import_exists() -> None:
    for name in HIDDEN_IMPORTS:
        assert importlib.util.find_spec(name) is not None, name


@pytest.mark.parametrize(
    "module",
    [
        "voice_sidecar.session",
        "voice_sidecar.agent_worker",
        "voice_sidecar.converse.runner",
        "voice_sidecar.stack",
    ],
)
def test_nothing_the_sidecar_loads_is_excluded(module: str) -> None:
    """An excluded module the sidecar imports would break the frozen build at start-up.

    ``av`` and ``livekit.local_inference`` are excluded on purpose: stand-ins replace them.
    """
    import subprocess
    import sys

    def modules_after(statement: str) -> set[str]:
        code = f"import sys{statement}; print('\\n'.join(sys.modules))"
        argv = [sys.executable, "-c", code]
        return set(subprocess.run(argv, capture_output=True, text=True, check=True).stdout.split())

    # what the interpreter loads by itself (site's .pth hooks) is not the sidecar's doing
    loaded = modules_after(f", {module}") - modules_after("")
    replaced = {"av", "livekit.local_inference"}
    for excluded in set(EXCLUDED_MODULES) - replaced:
        hits = {m for m in loaded if m == excluded or m.startswith(excluded + ".")}
        assert not hits, f"{module} loads {sorted(hits)[:3]}, which the build excludes"


def test_debug_sections_are_found_in_a_real_library(tmp_path: Path) -> None:
    import ctranslate2

    extension = next(Path(ctranslate2.__file__).parent.glob("_ext*.so"), None)
    if extension is None:
        pytest.skip("ctranslate2 has no ELF extension here")
    assert debug_section_bytes(extension) > 1_000_000
    not_elf = tmp_path / "x.so"
    not_elf.write_bytes(b"not an ELF file at all")
    assert debug_section_bytes(not_elf) == 0


def test_size_report_counts_vendored_libraries_with_their_package(tmp_path: Path) -> None:
    internal = tmp_path / "bundle" / "_internal"
    (internal / "numpy").mkdir(parents=True)
    (internal / "numpy.libs").mkdir()
    (internal / "numpy" / "core.so").write_bytes(b"x" * 1000)
    (internal / "numpy.libs" / "openblas.so").write_bytes(b"x" * 3000)
    (internal / "tiny.py").write_bytes(b"x" * 10)
    (internal / "link.so").symlink_to(internal / "numpy.libs" / "openblas.so")
    report = measure_bundle(tmp_path / "bundle")
    assert report.parts[0] == ("numpy", 4000)
    assert report.total_bytes == 4010  # the symlink is not counted twice
    assert part_name("av.libs") == "av"
    assert report.as_json()["files"] == 3
