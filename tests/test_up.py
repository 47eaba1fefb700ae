"""``voice-sidecar up`` as the desktop app runs it: a real process tree, events on stdout."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx2 as httpx
import psutil
import pytest

from voice_sidecar.testing.llm_server import FakeLlmServer

from .livekit_fixtures import write_fake_binary
from .process_support import survivors
from .up_support import UpProcess, start_up, up_env


def test_without_livekit_server_it_says_how_to_get_one(tmp_path: Path) -> None:
    env = up_env(tmp_path, PATH=str(Path(sys.executable).parent))
    env.pop("LIVEKIT_SERVER_BIN", None)
    up = start_up(env, pump=False)
    out, err = up.proc.communicate(timeout=60)
    assert up.proc.returncode == 5
    events = [json.loads(line) for line in out.splitlines()]
    assert [e["event"] for e in events] == ["starting", "error", "stopped"]
    assert events[1]["code"] == "livekit_not_found"
    assert "fetch-livekit" in events[1]["message"]
    assert (
        err.strip()
        .splitlines()[-1]
        .startswith("voice-sidecar: error: livekit-server was not found")
    )


def test_a_busy_port_is_named(tmp_path: Path) -> None:
    env = up_env(tmp_path, LIVEKIT_SERVER_BIN=str(write_fake_binary(tmp_path / "bin")))
    busy = socket.socket()
    busy.bind(("127.0.0.1", int(env["VOICE_SIDECAR_PORTS_LIVEKIT_HTTP"])))
    busy.listen()
    try:
        up = start_up(env, pump=False)
        out, err = up.proc.communicate(timeout=60)
    finally:
        busy.close()
    assert up.proc.returncode == 6
    assert f"port {env['VOICE_SIDECAR_PORTS_LIVEKIT_HTTP']} on 127.0.0.1" in err
    assert "VOICE_SIDECAR_PORTS_LIVEKIT_HTTP" in err
    assert any(json.loads(line).get("code") == "port_busy" for line in out.splitlines())


@pytest.fixture
def running_up(tmp_path: Path) -> Iterator[UpProcess]:
    env = up_env(tmp_path, LIVEKIT_SERVER_BIN=str(write_fake_binary(tmp_path / "bin")))
    up = start_up(env)
    yield up
    if up.proc.poll() is None:
        up.proc.kill()
        up.proc.wait(10)
    leftover = survivors(up.child_pids(), 10)
    for pid in leftover:
        os.kill(pid, signal.SIGKILL)


@pytest.mark.slow
def test_up_reaches_ready_serves_the_api_and_stops_with_stdin(running_up: UpProcess) -> None:
    up = running_up
    ready = up.next_event("ready", timeout=180)
    services = [e for e in up.events if e["event"] == "service"]
    assert {(e["service"], e["state"]) for e in services} >= {
        ("livekit-server", "ready"),
        ("agent", "ready"),
    }
    url, token = ready["control_url"], ready["token"]
    assert url.startswith("http://127.0.0.1:")
    health = httpx.get(f"{url}/health", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert health.status_code == 200
    assert health.json()["status"] == "ready"
    assert httpx.get(f"{url}/health", timeout=10).status_code == 401
    session = httpx.post(
        f"{url}/session",
        json={"version": 1, "persona": {"name": "Ada"}},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert session.status_code == 200, session.text
    assert session.json()["livekit_url"] == ready["livekit_url"]
    # a second start while this one runs is refused, naming the running one
    second = start_up(up.env, pump=False)
    out, err = second.proc.communicate(timeout=60)
    assert second.proc.returncode == 8
    assert f"already running (pid {up.proc.pid}" in err
    assert any(json.loads(line).get("code") == "already_running" for line in out.splitlines())
    children = up.child_pids()
    assert len(children) >= 2
    descendants = {p.pid for p in psutil.Process(up.proc.pid).children(recursive=True)}
    assert up.proc.stdin is not None
    up.proc.stdin.close()
    stopped = up.next_event("stopped", timeout=60)
    assert stopped["reason"] == "stdin_closed"
    assert up.proc.wait(30) == 0
    assert survivors(children | descendants, 10) == set()


@pytest.mark.slow
def test_killing_up_takes_its_children_with_it(running_up: UpProcess) -> None:
    up = running_up
    up.next_event("ready", timeout=180)
    descendants = {p.pid for p in psutil.Process(up.proc.pid).children(recursive=True)}
    assert descendants
    up.proc.kill()
    up.proc.wait(10)
    assert survivors(descendants, 5) == set(), "children survived kill -9 of the supervisor"


@pytest.mark.slow
def test_up_stops_when_its_parent_exits(tmp_path: Path) -> None:
    env = up_env(tmp_path, LIVEKIT_SERVER_BIN=str(write_fake_binary(tmp_path / "bin")))
    parent = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    up = start_up(env, "--parent-pid", str(parent.pid), "--no-stdin-watch")
    try:
        up.next_event("ready", timeout=180)
        parent.kill()
        parent.wait(10)
        assert up.next_event("stopped", timeout=30)["reason"] == "parent_exit"
        assert up.proc.wait(30) == 0
    finally:
        if up.proc.poll() is None:
            up.proc.kill()
        parent.kill()


@pytest.mark.slow
def test_up_fetches_a_missing_voice_with_progress_events(tmp_path: Path) -> None:
    """First run on a new machine: the voice is downloaded, visibly, before the agent starts."""
    from .model_mirror import ModelMirror
    from .models_support import serve_bundled

    with ModelMirror() as mirror:
        serve_bundled(mirror)
        env = up_env(
            tmp_path,
            LIVEKIT_SERVER_BIN=str(write_fake_binary(tmp_path / "bin")),
            VOICE_SIDECAR_TTS_VOICE="en_US-amy-medium",
            VOICE_SIDECAR_MODELS_DIR=str(tmp_path / "models"),
            VOICE_SIDECAR_MODELS_MIRROR_URL=mirror.url,
        )
        up = start_up(env)
        try:
            ready = up.next_event("ready", timeout=180)
            progress = [e for e in up.events if e["event"] == "model_progress"]
            assert progress, "no model_progress events"
            assert {e["model"] for e in progress} == {"en_US-amy-medium"}
            assert progress[-1]["done"] is True
            assert progress[-1]["bytes"] == progress[-1]["total"]
            sizes = [e["bytes"] for e in progress]
            assert sizes == sorted(sizes)
            assert up.events.index(progress[-1]) < up.events.index(ready)
            models = httpx.get(
                f"{ready['control_url']}/models",
                headers={"Authorization": f"Bearer {ready['token']}"},
                timeout=10,
            ).json()["models"]
            amy = next(m for m in models if m["name"] == "en_US-amy-medium")
            assert amy["installed"] is True
        finally:
            if up.proc.stdin:
                up.proc.stdin.close()
            up.proc.wait(60)


@pytest.mark.slow
def test_a_shutdown_line_on_stdin_stops_up(running_up: UpProcess) -> None:
    """A web view can write to the sidecar's stdin but cannot close it."""
    up = running_up
    up.next_event("ready", timeout=180)
    assert up.proc.stdin is not None
    up.proc.stdin.write('{"command": "shutdown"}\n')
    up.proc.stdin.flush()
    assert up.next_event("stopped", timeout=60)["reason"] == "shutdown_request"
    assert up.proc.wait(30) == 0


@pytest.mark.slow
def test_the_app_going_away_during_a_first_download_stops_up(tmp_path: Path) -> None:
    """A first run downloads a voice; the app dies mid-download: nothing may keep running."""
    import threading as _threading

    from .model_mirror import ModelMirror
    from .models_support import AMY_PATH, serve_bundled

    with ModelMirror() as mirror:
        serve_bundled(mirror)
        hold = _threading.Event()
        mirror.knobs.gate[AMY_PATH + ".onnx"] = hold  # the download stays open until released
        env = up_env(
            tmp_path,
            LIVEKIT_SERVER_BIN=str(write_fake_binary(tmp_path / "bin")),
            VOICE_SIDECAR_TTS_VOICE="en_US-amy-medium",
            VOICE_SIDECAR_MODELS_DIR=str(tmp_path / "models"),
            VOICE_SIDECAR_MODELS_MIRROR_URL=mirror.url,
        )
        parent = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        up = start_up(env, "--parent-pid", str(parent.pid), "--no-stdin-watch")
        try:
            up.next_event("model_progress", timeout=60)
            parent.kill()
            parent.wait(10)
            assert up.next_event("stopped", timeout=15)["reason"] == "parent_exit"
            assert up.proc.wait(15) == 0
            assert not [e for e in up.events if e["event"] == "service"], "started services anyway"
        finally:
            hold.set()
            if up.proc.poll() is None:
                up.proc.kill()
            parent.kill()


@pytest.mark.slow
def test_an_endpoint_without_the_default_model_is_reported_once_ready(
    tmp_path: Path, llm_server: FakeLlmServer
) -> None:
    """No llm.model given and a local server with two models: which one is meant cannot be
    guessed, so `up` says so before the user speaks (with one model, the agent uses it)."""
    llm_server.behaviour.models = ["llama3.2:1b", "qwen2.5:3b"]
    env = up_env(
        tmp_path,
        LIVEKIT_SERVER_BIN=str(write_fake_binary(tmp_path / "bin")),
        VOICE_SIDECAR_LLM_BASE_URL=llm_server.base_url,
    )
    up = start_up(env)
    try:
        up.next_event("ready", timeout=180)
        error = up.next_event("error", timeout=30)
        assert error["code"] == "llm_unreachable"
        assert error["fatal"] is False
        assert "does not serve the default model" in error["message"]
        assert "llama3.2:1b, qwen2.5:3b" in error["message"]
        assert "--llm-model" in error["message"]
    finally:
        up.stop()
