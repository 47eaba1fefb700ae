"""The launcher's Windows code (installers/launcher), built for Windows and run under Wine.

`cargo test` here compiles only the Unix branch. These tests build the same source for
x86_64-pc-windows-gnu and run it against a stand-in sidecar (tests/windows/sidecar_stand_in.rs)
in the layouts Tauri and installers/build.py produce. Wine behaves like Windows where it
matters here: a child outlives its killed parent unless a kill-on-close job ties them
(the control case shows it).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from .process_support import survivors
from .windows_support import MISSING, WindowsToolchain, windows_toolchain

ROOT = Path(__file__).resolve().parent.parent
LAUNCHER_SOURCE = ROOT / "installers" / "launcher" / "src" / "main.rs"
STAND_IN_SOURCE = Path(__file__).resolve().parent / "windows" / "sidecar_stand_in.rs"
BUNDLE = "voice-sidecar-bundle"
EXIT_BUNDLE_MISSING = 9

TOOLCHAIN = windows_toolchain()
# .ci/run sets it after installing the toolchain: there a missing piece is a failure
REQUIRED = os.environ.get("VOICE_SIDECAR_WINDOWS_TESTS") == "required"
pytestmark = pytest.mark.skipif(TOOLCHAIN is None and not REQUIRED, reason=MISSING)


@dataclass(frozen=True)
class WindowsBuild:
    toolchain: WindowsToolchain
    launcher: Path
    stand_in: Path
    prefix: Path

    def run(self, program: Path, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.toolchain.wine, str(program), *args],
            capture_output=True,
            text=True,
            env=self.toolchain.environment(self.prefix),
            timeout=120,
            check=False,
        )

    def start(self, program: Path, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [self.toolchain.wine, str(program), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=self.toolchain.environment(self.prefix),
        )


@pytest.fixture(scope="module")
def build(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WindowsBuild]:
    if TOOLCHAIN is None:
        pytest.fail(MISSING)
    out = tmp_path_factory.mktemp("windows-build")
    built = WindowsBuild(
        toolchain=TOOLCHAIN,
        launcher=TOOLCHAIN.compile(LAUNCHER_SOURCE, out / "voice-sidecar-launcher.exe"),
        stand_in=TOOLCHAIN.compile(STAND_IN_SOURCE, out / "voice-sidecar.exe"),
        prefix=out / "wine-prefix",
    )
    yield built
    TOOLCHAIN.stop_server(built.prefix)


def _tauri_layout(build: WindowsBuild, root: Path) -> Path:
    """installers/build.py's layout: binaries/<launcher> and resources/voice-sidecar-bundle/."""
    binaries = root / "binaries"
    binaries.mkdir(parents=True)
    (root / "resources" / BUNDLE).mkdir(parents=True)
    launcher = binaries / "voice-sidecar-x86_64-pc-windows-msvc.exe"
    launcher.write_bytes(build.launcher.read_bytes())
    (root / "resources" / BUNDLE / "voice-sidecar.exe").write_bytes(build.stand_in.read_bytes())
    return launcher


def _installed_layout(build: WindowsBuild, root: Path) -> Path:
    """A Windows install: the bundle folder beside the launcher."""
    (root / BUNDLE).mkdir(parents=True)
    launcher = root / "voice-sidecar.exe"
    launcher.write_bytes(build.launcher.read_bytes())
    (root / BUNDLE / "voice-sidecar.exe").write_bytes(build.stand_in.read_bytes())
    return launcher


def _report(stdout: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in stdout.splitlines() if "=" in line)


def _windows_path(path: Path) -> str:
    # Wine maps the Unix root to drive Z:
    return "Z:" + str(path).replace("/", "\\")


def _processes_with(marker: str) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["cmdline"]):
        if marker in " ".join(process.info["cmdline"] or []):
            found.append(process)
    return found


def _wait_until(predicate: Callable[[], bool], limit_s: float) -> bool:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


@pytest.mark.parametrize("layout", [_tauri_layout, _installed_layout], ids=["build", "installed"])
def test_arguments_exit_code_and_launcher_dir_reach_the_sidecar(
    build: WindowsBuild, tmp_path: Path, layout: Callable[[WindowsBuild, Path], Path]
) -> None:
    launcher = layout(build, tmp_path)
    proc = build.run(launcher, "7", "up", "two words")
    assert proc.returncode == 7, proc.stderr
    report = _report(proc.stdout)
    assert report["args"] == '["7", "up", "two words"]'
    # the plain form, not the verbatim \\?\ one canonicalize returns
    assert report["launcher_dir"] == _windows_path(launcher.parent)
    assert report["in_job"] == "true"
    assert "no job object" not in proc.stderr


def test_missing_bundle_exits_9_with_one_line(build: WindowsBuild, tmp_path: Path) -> None:
    launcher = tmp_path / "voice-sidecar.exe"
    launcher.write_bytes(build.launcher.read_bytes())
    proc = build.run(launcher, "up")
    assert proc.returncode == EXIT_BUNDLE_MISSING
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert BUNDLE in lines[0]
    assert "reinstall" in lines[0]


def _kill_parent_and_watch(build: WindowsBuild, program: Path, marker: str) -> bool:
    """Starts ``program`` (which runs a sleeping stand-in), SIGKILLs it once the stand-in is
    up, and says whether the stand-in was gone within a few seconds."""
    parent = build.start(program, "0", "sleep" if program == build.launcher else "spawn", marker)
    try:
        assert _wait_until(lambda: len(_processes_with(marker)) >= 2, 60), "stand-in never ran"
        stand_ins = {p.pid for p in _processes_with(marker)} - {parent.pid}
        parent.send_signal(signal.SIGKILL)
        parent.wait(timeout=30)
        return not survivors(stand_ins, timeout=10)
    finally:
        for process in _processes_with(marker):
            process.kill()


def test_killing_the_launcher_kills_the_sidecar(build: WindowsBuild, tmp_path: Path) -> None:
    launcher = _installed_layout(build, tmp_path)
    marker = f"marker-{uuid.uuid4().hex}"
    assert _kill_parent_and_watch(build, launcher, marker)


def test_control_without_the_job_a_child_outlives_its_killed_parent(
    build: WindowsBuild, tmp_path: Path
) -> None:
    # what the job object prevents: the stand-in starts a copy of itself outside any job
    marker = f"marker-{uuid.uuid4().hex}"
    assert not _kill_parent_and_watch(build, build.stand_in, marker)
