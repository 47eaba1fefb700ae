"""``voice-sidecar models`` as a user runs it: real processes against a real mirror."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from voice_sidecar.models.markers import COMPLETE, INCOMPLETE

from .conftest import SpeechFiles
from .model_mirror import ModelMirror
from .models_support import TINY_TOTAL, serve_bundled, tiny_files


@pytest.fixture
def mirror() -> Iterator[ModelMirror]:
    with ModelMirror() as server:
        serve_bundled(server)
        yield server


def _env(models_dir: Path, mirror_url: str, **settings: str) -> dict[str, str]:
    env = dict(os.environ)
    env["VOICE_SIDECAR_MODELS_DIR"] = str(models_dir)
    env["VOICE_SIDECAR_MODELS_MIRROR_URL"] = mirror_url
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    for key, value in settings.items():
        env[f"VOICE_SIDECAR_MODELS_{key.upper()}"] = value
    return env


def _command(*args: str) -> list[str]:
    return [sys.executable, "-m", "voice_sidecar", *args]


def _run(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        _command(*args), capture_output=True, text=True, env=env, timeout=timeout, check=False
    )


def _lines(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def test_pull_list_verify_remove(mirror: ModelMirror, tmp_path: Path) -> None:
    models = tmp_path / "models"
    env = _env(models, mirror.url)
    # tiny.en is installed from a package already: pull says so and fetches nothing
    proc = _run("models", "pull", "tiny.en", env=env)
    assert proc.returncode == 0, proc.stderr
    assert "already installed (package" in proc.stdout
    assert mirror.requests == []
    # --force fetches it into the models directory, with JSON-lines progress
    proc = _run("models", "pull", "tiny.en", "--force", "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    events = _lines(proc.stdout)
    assert events[-1]["event"] == "model_ready"
    assert events[-1]["source"] == "models-dir"
    progress = [e for e in events if e["event"].startswith("model_download")]
    assert progress[-1] == progress[-1] | {"event": "model_download_finished", "bytes": TINY_TOTAL}
    assert all(e["total"] == TINY_TOTAL for e in progress)
    counts = [e["bytes"] for e in progress]
    assert counts == sorted(counts)
    # list
    proc = _run("models", "list", "--installed", "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    listed = {m["name"]: m for m in json.loads(proc.stdout)["models"]}
    assert listed["tiny.en"]["source"] == "models-dir"
    assert listed["en_US-joe-medium"]["source"] == "package"
    # verify: good, then a flipped byte is found and the copy quarantined
    proc = _run("models", "verify", "tiny.en", "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    (report,) = json.loads(proc.stdout)["models"]
    assert report["ok"]
    assert report["checked_against"] == "marker"
    model_bin = models / "whisper" / "tiny.en" / "model.bin"
    data = bytearray(model_bin.read_bytes())
    data[len(data) // 3] ^= 1
    model_bin.write_bytes(bytes(data))
    proc = _run("models", "verify", "tiny.en", "--json", env=env)
    assert proc.returncode == 1
    (report,) = json.loads(proc.stdout)["models"]
    assert not report["ok"]
    assert report["quarantined"]
    assert not (models / "whisper" / "tiny.en").exists()
    # the package's copy is checked against the catalog's hashes (computed from it)
    proc = _run("models", "verify", "--json", env=env)
    assert proc.returncode == 0, proc.stdout
    reports = {r["name"]: r for r in json.loads(proc.stdout)["models"]}
    assert {"tiny.en", "base", "en_US-joe-medium"} <= set(reports)
    assert all(r["checked_against"] == "catalog" for r in reports.values())
    assert all(f["status"] == "ok" for r in reports.values() for f in r["files"])
    # remove: a package's copy is not ours
    proc = _run("models", "remove", "tiny.en", env=env)
    assert proc.returncode == 2
    assert "uninstall the Python package" in proc.stderr


def test_pull_survives_being_killed_half_way(mirror: ModelMirror, tmp_path: Path) -> None:
    models = tmp_path / "models"
    env = _env(models, mirror.url)
    mirror.knobs.trickle_s = 0.02
    part = models / "whisper" / "tiny.en" / "model.bin.part"
    proc = subprocess.Popen(
        _command("models", "pull", "tiny.en", "--force"),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while not (part.exists() and part.stat().st_size > 3_000_000):
            assert proc.poll() is None, "the pull ended before it could be killed"
            assert time.monotonic() < deadline, "the download never started"
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    directory = part.parent
    assert (directory / INCOMPLETE).exists()
    assert not (directory / COMPLETE).exists()
    assert not (directory / "model.bin").exists()
    kept = part.stat().st_size
    mirror.knobs.trickle_s = 0.0
    done = _run("models", "pull", "tiny.en", "--force", env=env)
    assert done.returncode == 0, done.stderr
    assert "installed in" in done.stdout
    assert (directory / "model.bin").read_bytes() == tiny_files()["model.bin"].read_bytes()
    assert mirror.downloads("model.bin")[-1].range == f"bytes={kept}-"
    removed = _run("models", "remove", "tiny.en", "--json", env=env)
    assert removed.returncode == 0, removed.stderr
    assert str(directory) in json.loads(removed.stdout)["removed"]
    assert not directory.exists()


def test_two_processes_pulling_one_model_fetch_each_file_once(
    mirror: ModelMirror, tmp_path: Path
) -> None:
    models = tmp_path / "models"
    env = _env(models, mirror.url)
    gate = threading.Event()
    mirror.knobs.gate["model.bin"] = gate  # the first pull holds the lock, mid-download

    def start() -> tuple[subprocess.Popen[str], list[str]]:
        proc = subprocess.Popen(
            _command("models", "pull", "tiny.en", "--force", "--json"),
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        lines: list[str] = []
        reader = threading.Thread(target=lambda: lines.extend(proc.stdout or []), daemon=True)
        reader.start()
        return proc, lines

    def wait_for(condition: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + 90
        while not condition():
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            time.sleep(0.05)

    first, first_lines = start()
    second: subprocess.Popen[str] | None = None
    try:
        wait_for(lambda: bool(mirror.downloads("model.bin")), "the first download")
        second, second_lines = start()
        wait_for(
            lambda: any("model_download_waiting" in line for line in second_lines),
            "the second process to wait for the lock",
        )
        gate.set()
        assert first.wait(timeout=90) == 0
        assert second.wait(timeout=90) == 0
    finally:
        gate.set()
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
    for name in tiny_files():
        assert len(mirror.downloads(name)) == 1, name
    first_events = _lines("".join(first_lines))
    second_events = _lines("".join(second_lines))
    assert first_events[-1] == first_events[-1] | {"event": "model_ready", "fetched": True}
    assert second_events[0]["event"] == "model_download_waiting"
    assert second_events[-1]["event"] == "model_ready"
    assert not any(e["event"] == "model_download_progress" for e in second_events)
    assert (models / "whisper" / "tiny.en" / COMPLETE).is_file()


def test_offline_start_with_a_warm_cache_transcribes(
    mirror: ModelMirror, tmp_path: Path, speech: SpeechFiles
) -> None:
    models = tmp_path / "models"
    proc = _run("models", "pull", "tiny.en", "--force", env=_env(models, mirror.url))
    assert proc.returncode == 0, proc.stderr
    mirror.stop()
    # offline, and the mirror is gone: the warm models directory is all there is
    env = _env(models, "http://127.0.0.1:9", offline="true")
    proc = _run(
        "transcribe",
        str(speech("Set a timer for ten minutes.")),
        "--stt-model",
        "tiny.en",
        "--json",
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    (item,) = json.loads(proc.stdout)
    assert {"timer", "minutes"} <= {w.strip(".,").lower() for w in item["text"].split()}
    # a model that is not installed is refused at once, naming the setting
    proc = _run("transcribe", str(speech("Hello.")), "--stt-model", "small.en", env=env)
    assert proc.returncode == 4
    assert "offline" in proc.stderr.splitlines()[-1]
