"""Build the frozen sidecar for the host platform and lay it out for Tauri.

    python -m installers.build [--tauri-dir dist/tauri] [--mode onedir|onefile]
                               [--skip-livekit | --livekit-bin PATH]

Output (one-dir, the default; see docs/packaging.md for why):

    <tauri-dir>/binaries/voice-sidecar-<triple>[.exe]     launcher (installers/launcher)
    <tauri-dir>/binaries/livekit-server-<triple>[.exe]    pinned release, checksum verified
    <tauri-dir>/resources/voice-sidecar-bundle/           PyInstaller one-dir bundle
    <tauri-dir>/build-report.json                         sizes and the biggest parts

With ``--mode onefile`` the single PyInstaller executable is the sidecar binary.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from installers.bundle_size import SizeReport, measure_bundle
from installers.strip_debug import strip_debug_info
from installers.targets import build_host
from voice_sidecar.livekit_server.platform_names import HostPlatform

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "installers" / "voice-sidecar.spec"
LAUNCHER_CRATE = ROOT / "installers" / "launcher"
BUNDLE_DIR_NAME = "voice-sidecar-bundle"
EXECUTABLE_STEM = "voice-sidecar"


class BuildError(Exception):
    """A build step failed; the message says which and what to do."""


@dataclass(frozen=True)
class BuildOptions:
    tauri_dir: Path
    work_dir: Path
    mode: str
    host: HostPlatform
    livekit: str  # "fetch", "skip" or a path to an existing binary


@dataclass(frozen=True)
class BuildResult:
    sidecar: Path
    bundle_dir: Path | None
    livekit_server: Path | None
    report: SizeReport
    seconds: float


def source_digest(root: Path = ROOT) -> str:
    """SHA-256 over what a build is made from: a build with another digest is stale."""
    digest = hashlib.sha256()
    sources = [
        *sorted((root / "sidecar" / "voice_sidecar").rglob("*.py")),
        *sorted((root / "sidecar" / "voice_sidecar").rglob("*.json")),
        *sorted((root / "installers").rglob("*.py")),
        root / "installers" / "voice-sidecar.spec",
        root / "requirements.lock",
    ]
    for path in sources:
        if path.is_file():
            digest.update(path.relative_to(root).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def parse_args(argv: Sequence[str] | None) -> BuildOptions:
    parser = argparse.ArgumentParser(prog="python -m installers.build", description=__doc__)
    parser.add_argument("--tauri-dir", type=Path, default=ROOT / "dist" / "tauri")
    parser.add_argument("--work-dir", type=Path, default=ROOT / "build" / "pyinstaller")
    parser.add_argument("--mode", choices=("onedir", "onefile"), default="onedir")
    livekit = parser.add_mutually_exclusive_group()
    livekit.add_argument("--skip-livekit", action="store_true", help="do not add livekit-server")
    livekit.add_argument("--livekit-bin", type=Path, help="use this livekit-server binary")
    args = parser.parse_args(argv)
    if args.skip_livekit:
        livekit_choice = "skip"
    elif args.livekit_bin:
        livekit_choice = str(args.livekit_bin)
    else:
        livekit_choice = "fetch"
    return BuildOptions(
        tauri_dir=args.tauri_dir.resolve(),
        work_dir=args.work_dir.resolve(),
        mode=args.mode,
        host=build_host(),
        livekit=livekit_choice,
    )


def _run(argv: list[str], what: str, cwd: Path | None = None) -> None:
    print(f"== {what}", flush=True)
    result = subprocess.run(argv, cwd=cwd, check=False)
    if result.returncode != 0:
        raise BuildError(f"{what} failed (exit {result.returncode}); its output is above")


def run_pyinstaller(options: BuildOptions) -> Path:
    """Freeze the sidecar; returns the one-dir folder or the one-file executable."""
    dist = options.work_dir / "dist"
    shutil.rmtree(dist, ignore_errors=True)
    _run(
        [
            sys.executable,
            "-m",
            "PyInstaller",
            "--noconfirm",
            "--clean",
            "--log-level",
            "WARN",
            "--distpath",
            str(dist),
            "--workpath",
            str(options.work_dir / "work"),
            str(SPEC),
            "--",
            "--mode",
            options.mode,
            "--name",
            EXECUTABLE_STEM,
        ],
        "PyInstaller",
    )
    if options.mode == "onefile":
        return dist / f"{EXECUTABLE_STEM}{options.host.exe_suffix}"
    return dist / EXECUTABLE_STEM


def build_launcher(options: BuildOptions) -> Path:
    cargo = shutil.which("cargo")
    if cargo is None:
        raise BuildError(
            "cargo was not found: the one-dir build needs a Rust toolchain for its launcher "
            "(install it with rustup, or build with --mode onefile)"
        )
    target_dir = options.work_dir / "launcher-target"
    _run(
        [cargo, "build", "--release", "--offline", "--target-dir", str(target_dir)],
        "launcher (cargo build)",
        cwd=LAUNCHER_CRATE,
    )
    return target_dir / "release" / f"voice-sidecar-launcher{options.host.exe_suffix}"


def write_licences(internal_dir: Path, out_file: Path, *, with_livekit: bool) -> None:
    argv = [sys.executable, "-m", "installers.licences", str(internal_dir), "--out", str(out_file)]
    if not with_livekit:
        argv.append("--without-livekit-server")
    _run(argv, "third-party licences", cwd=ROOT)


def place_livekit(options: BuildOptions, binaries: Path) -> Path | None:
    if options.livekit == "skip":
        return None
    target = binaries / options.host.sidecar_name("livekit-server")
    if options.livekit == "fetch":
        from voice_sidecar.livekit_server.fetch import fetch_livekit

        print("== livekit-server (pinned release, checksum verified)", flush=True)
        source = fetch_livekit(target_dir=options.work_dir / "livekit")
    else:
        source = Path(options.livekit)
        if not source.is_file():
            raise BuildError(f"--livekit-bin {source} is not a file")
    shutil.copy2(source, target)
    return target


def _fresh(folder: Path) -> Path:
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


def build(options: BuildOptions) -> BuildResult:
    started = time.perf_counter()
    frozen = run_pyinstaller(options)
    binaries = _fresh(options.tauri_dir / "binaries")
    sidecar = binaries / options.host.sidecar_name(EXECUTABLE_STEM)
    bundle_dir: Path | None = None
    if options.mode == "onedir":
        internal = frozen / "_internal"
        if platform.system() == "Linux":
            strip_debug_info(internal)
        write_licences(
            internal, frozen / "THIRD_PARTY_LICENSES.txt", with_livekit=options.livekit != "skip"
        )
        resources = _fresh(options.tauri_dir / "resources")
        bundle_dir = resources / BUNDLE_DIR_NAME
        shutil.copytree(frozen, bundle_dir, symlinks=True)
        shutil.copy2(build_launcher(options), sidecar)
        report = measure_bundle(bundle_dir)
    else:
        shutil.copy2(frozen, sidecar)
        report = measure_bundle(sidecar)
    livekit_server = place_livekit(options, binaries)
    result = BuildResult(
        sidecar=sidecar,
        bundle_dir=bundle_dir,
        livekit_server=livekit_server,
        report=report,
        seconds=time.perf_counter() - started,
    )
    _write_report(options, result)
    return result


def _write_report(options: BuildOptions, result: BuildResult) -> None:
    data = {
        "mode": options.mode,
        "triple": options.host.target_triple,
        "build_seconds": round(result.seconds, 1),
        "source_digest": source_digest(),
        "sidecar": str(result.sidecar),
        "bundle_dir": str(result.bundle_dir) if result.bundle_dir else None,
        "livekit_server": str(result.livekit_server) if result.livekit_server else None,
        **result.report.as_json(),
    }
    (options.tauri_dir / "build-report.json").write_text(json.dumps(data, indent=2) + "\n")


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_args(argv)
    os.environ.setdefault("PYTHONHASHSEED", "0")  # reproducible PYZ ordering
    try:
        result = build(options)
    except BuildError as exc:
        print(f"installers.build: error: {exc}", file=sys.stderr)
        return 1
    print(result.report.render())
    print(f"sidecar: {result.sidecar}")
    if result.bundle_dir:
        print(f"bundle:  {result.bundle_dir}")
    print(f"livekit-server: {result.livekit_server or 'not added (--skip-livekit)'}")
    print(f"built in {result.seconds:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
