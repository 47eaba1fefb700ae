"""Measure a frozen build the way docs/packaging.md reports it (one-file against one-dir).

    python -m installers.measure --tauri-dir dist/tauri [--runs 5] [--compress] [--json F]

Figures: size on disk (and xz-compressed with --compress), ``--version`` and ``doctor``
start-up (first with a cold page cache where the tool may drop it, i.e. as root on Linux, then
the median of warm runs), ``up`` from start to the ``ready`` event (the first run downloads the
models from a local mirror, the second starts from a cold page cache, the rest are warm;
livekit-server is the tests' fake, so the figure is the sidecar's own),
and what a SIGKILL of the process Tauri holds leaves behind: live processes and temp folders.

It uses the test helpers (local model mirror, fake livekit-server), so run it from a checkout
with the development environment.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import psutil

from installers.bundle_size import measure_bundle
from installers.targets import build_host

ROOT = Path(__file__).resolve().parent.parent


def drop_page_cache() -> bool:
    """Forget cached file pages (root on Linux), so the next start reads the build from disk."""
    try:
        os.sync()
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
    except OSError:
        return False
    return True


def _timed(argv: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(argv, env=env, capture_output=True, check=False, timeout=300)
    return time.perf_counter() - started


def compressed_size(path: Path) -> int | None:
    """Bytes of ``tar | xz -6`` of the build (what a release archive costs)."""
    tar, xz = shutil.which("tar"), shutil.which("xz")
    if not (tar and xz):
        return None
    parent, name = (path.parent, path.name)
    with subprocess.Popen([tar, "-cf", "-", "-C", str(parent), name], stdout=subprocess.PIPE) as t:
        xz_run = subprocess.run(
            [xz, "-6", "-T0", "-c"], stdin=t.stdout, capture_output=True, check=True
        )
    return len(xz_run.stdout)


def _temp_entries(folder: Path) -> set[str]:
    return {entry.name for entry in folder.iterdir()} if folder.exists() else set()


def measure_up(sidecar: Path, runs: int, work: Path) -> dict[str, Any]:
    sys.path.insert(0, str(ROOT))
    from tests.frozen_support import bundle_processes
    from tests.livekit_fixtures import write_fake_binary
    from tests.model_mirror import ModelMirror
    from tests.models_support import serve_bundled
    from tests.process_support import survivors
    from tests.up_support import start_up, up_env

    to_ready: list[float] = []
    cold = False
    survivors_after_kill: list[int] = []
    temp_left: list[int] = []
    livekit_server = write_fake_binary(work / "bin")
    with ModelMirror() as mirror:
        serve_bundled(mirror)
        for run in range(runs):
            tmp = work / f"tmp-{run}"
            tmp.mkdir(parents=True)
            env = {
                **up_env(work / f"run-{run}"),
                "HOME": str(work / "home"),
                "TMPDIR": str(tmp),
                "VOICE_SIDECAR_MODELS_DIR": str(work / "models"),
                "VOICE_SIDECAR_MODELS_MIRROR_URL": mirror.url,
                "LIVEKIT_SERVER_BIN": str(livekit_server),
            }
            env.pop("PYTHON_KEYRING_BACKEND", None)
            if run == 1:  # run 0 downloaded the models; this one starts from a cold disk cache
                cold = drop_page_cache()
            started = time.perf_counter()
            up = start_up(env, sidecar=[str(sidecar)])
            try:
                up.next_event("ready", timeout=300)
                to_ready.append(time.perf_counter() - started)
                tree = {p.pid for p in psutil.Process(up.proc.pid).children(recursive=True)}
                up.proc.kill()  # what Tauri's kill() sends on Unix
                up.proc.wait(10)
                survivors_after_kill.append(len(survivors(tree, 5)))
                time.sleep(0.5)
                temp_left.append(len(_temp_entries(tmp)))
            finally:
                for pid in bundle_processes(sidecar.parent.parent):
                    with contextlib.suppress(psutil.NoSuchProcess):
                        psutil.Process(pid).kill()
    return {
        "up_to_ready_with_model_download_s": round(to_ready[0], 2),
        "up_to_ready_cold_cache_s": round(to_ready[1], 2) if cold else None,
        "up_to_ready_warm_median_s": round(statistics.median(to_ready[2:]), 2)
        if len(to_ready) > 2
        else None,
        "processes_left_after_kill": max(survivors_after_kill),
        "temp_entries_left_after_kill": max(temp_left),
    }


def measure(tauri_dir: Path, runs: int, compress: bool) -> dict[str, Any]:
    sidecar = tauri_dir / "binaries" / build_host().sidecar_name("voice-sidecar")
    bundle = tauri_dir / "resources" / "voice-sidecar-bundle"
    one_dir = bundle.is_dir()
    target = bundle if one_dir else sidecar
    report = measure_bundle(target)
    env = {k: v for k, v in os.environ.items() if k != "PYTHON_KEYRING_BACKEND"}
    with tempfile.TemporaryDirectory() as work_name:
        work = Path(work_name)
        env["HOME"] = str(work / "home")
        cold = drop_page_cache()
        version = [_timed([str(sidecar), "--version"], env) for _ in range(runs + 1)]
        doctor = [_timed([str(sidecar), "doctor", "--json"], env) for _ in range(runs)]
        up = measure_up(sidecar, runs + 2, work)
    compressed = compressed_size(target) if compress else None
    return {
        "mode": "onedir" if one_dir else "onefile",
        "size_mb": round(report.total_bytes / 1e6, 1),
        "files": report.files,
        "xz_mb": round(compressed / 1e6, 1) if compressed else None,
        "version_cold_cache_s": round(version[0], 2) if cold else None,
        "version_warm_median_s": round(statistics.median(version[1:]), 2),
        "doctor_warm_median_s": round(statistics.median(doctor), 2),
        **up,
        "runs": runs,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m installers.measure", description=__doc__)
    parser.add_argument("--tauri-dir", type=Path, default=ROOT / "dist" / "tauri")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--compress", action="store_true")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    figures = measure(args.tauri_dir.resolve(), args.runs, args.compress)
    print(json.dumps(figures, indent=2))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
