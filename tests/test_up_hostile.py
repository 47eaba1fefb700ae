"""``voice-sidecar up`` against hostile neighbours and a locked keyring (issue 15.1, 15.2):
the real process tree, with the fake livekit-server and the real agent worker."""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2 as httpx
import pytest

from voice_sidecar.settings import NEBIUS_BASE_URL

from .livekit_fixtures import write_fake_binary
from .process_support import survivors
from .up_support import UpProcess, open_connections, start_up, up_env

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


@contextlib.contextmanager
def stopping(up: UpProcess) -> Iterator[UpProcess]:
    try:
        yield up
    finally:
        if up.proc.poll() is None and up.proc.stdin is not None:
            up.proc.stdin.close()
            try:
                up.proc.wait(60)
            except Exception:  # noqa: BLE001 - kill below
                up.proc.kill()
        for pid in survivors(up.child_pids(), 10):
            os.kill(pid, signal.SIGKILL)


def _timed_get(url: str, token: str) -> tuple[float, httpx.Response]:
    started = time.perf_counter()
    response = httpx.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=10)
    return time.perf_counter() - started, response


def test_a_locked_keyring_delays_neither_ready_nor_any_request(tmp_path: Path) -> None:
    """Issue 15.2: with a hanging keyring `GET /health` and `/key/status` took 5 s each, and
    `up` needed 20 s more to be ready (the key, then the LiveKit pair, read one after the
    other on the way to starting livekit-server)."""
    env = up_env(
        tmp_path,
        LIVEKIT_SERVER_BIN=str(write_fake_binary(tmp_path / "bin")),
        VOICE_SIDECAR_LLM_BASE_URL=NEBIUS_BASE_URL,  # the key matters; it is never found
        PYTHON_KEYRING_BACKEND="tests.children.hanging_keyring.HangingKeyring",
        PYTHONPATH=str(ROOT),
    )
    with stopping(start_up(env)) as up:
        ready = up.next_event("ready", timeout=180)
        starting = up.events[0]["time"]
        livekit_spawned = next(
            e["time"] for e in up.events if e["event"] == "service" and e["state"] == "starting"
        )
        assert livekit_spawned - starting < 4, "livekit-server waited for the keyring"
        assert ready["llm_key"] in ("unknown", "missing")
        for path in ("/health", "/key/status", "/health", "/key/status"):
            took, response = _timed_get(ready["control_url"] + path, ready["token"])
            assert response.status_code == 200, response.text
            assert took < 1.0, f"{path} took {took:.1f}s"
        # the read times out after 5 s and the state becomes known: missing, with the reason
        missing = up.next_event("error", timeout=30)
        assert missing["code"] == "missing_api_key"
        assert "did not answer" in missing["message"]
        took, response = _timed_get(ready["control_url"] + "/key/status", ready["token"])
        assert took < 1.0
        assert response.json() == {"available": False, "state": "missing", "source": "missing"}


def _limit_descriptors() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 1024))


def test_1100_idle_connections_do_not_take_the_backend_down(tmp_path: Path) -> None:
    """Issue 15.1: about 1,100 idle connections (no token) exhausted the 1,024 descriptors of
    `up`; its health checks failed, the restarts failed with "Too many open files", and `up`
    ended fatal (exit 7) within 10 s."""
    env = up_env(tmp_path, LIVEKIT_SERVER_BIN=str(write_fake_binary(tmp_path / "bin")))
    import subprocess

    from .up_support import PYTHON_SIDECAR, UpProcess, pump_lines

    proc = subprocess.Popen(
        [*PYTHON_SIDECAR, "up"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
        preexec_fn=_limit_descriptors,
    )
    up = UpProcess(proc, env)
    import threading

    threading.Thread(target=pump_lines, args=(proc.stdout, up.lines), daemon=True).start()
    with stopping(up):
        ready = up.next_event("ready", timeout=180)
        port = int(ready["control_url"].rsplit(":", 1)[1])
        flood: list[socket.socket] = []
        try:
            flood = open_connections(port, 1100)
            deadline = time.monotonic() + 12  # the probes run every 2 s, 3 failures restart
            while time.monotonic() < deadline:
                assert proc.poll() is None, "up exited under the flood"
                time.sleep(0.5)
            _, response = _timed_get(ready["control_url"] + "/health", ready["token"])
            assert response.status_code == 200
            health = response.json()
            assert health["status"] == "ready", health
            assert all(s["restarts"] == 0 for s in health["services"].values()), health
        finally:
            for sock in flood:
                sock.close()
        names = [(e["event"], e.get("state"), e.get("code")) for e in up.events]
        assert ("error", None, "service_fatal") not in names
        assert not [e for e in up.events if e.get("state") in ("unhealthy", "restarting")]


def test_a_crash_loop_says_which_service_how_it_ended_and_its_last_lines(tmp_path: Path) -> None:
    """Issue 15.7: `up` exits at once on a fatal crash loop, so `GET /health` never shows it;
    the final events must name the service, its last exit code or signal and its last log
    lines, so that the app can show why."""
    import json

    folder = tmp_path / "bin"
    folder.mkdir()
    crashing = folder / "livekit-server"
    crashing.write_text(
        "#!/bin/sh\necho 'starting up'\necho 'bind: address already in use, api_key=abc123secret'"
        " >&2\nexit 3\n",
        encoding="utf-8",
    )
    crashing.chmod(0o755)
    up = start_up(
        up_env(tmp_path, LIVEKIT_SERVER_BIN=str(crashing)), "--no-stdin-watch", pump=False
    )
    out, _ = up.proc.communicate(timeout=120)
    assert up.proc.returncode == 7
    events = [json.loads(line) for line in out.splitlines()]
    error = next(e for e in events if e["event"] == "error" and e["code"] == "service_fatal")
    assert error["service"] == "livekit-server"
    assert (error["exit_code"], error["signal"]) == (3, None)
    assert error["log_tail"][-2:] == [
        "starting up",
        "bind: address already in use, api_key=***",
    ]
    assert events[-1] == {**events[-1], "event": "stopped", "reason": "fatal"}


def test_a_busy_fixed_control_api_port_is_a_port_busy_error(tmp_path: Path) -> None:
    """Issue 15.8: a busy `ports.control_api` ended in a traceback (exit 1, no event)."""
    import json

    env = up_env(tmp_path, LIVEKIT_SERVER_BIN=str(write_fake_binary(tmp_path / "bin")))
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    port = busy.getsockname()[1]
    try:
        up = start_up({**env, "VOICE_SIDECAR_PORTS_CONTROL_API": str(port)}, pump=False)
        out, err = up.proc.communicate(timeout=60)
    finally:
        busy.close()
    assert up.proc.returncode == 6, err
    assert "Traceback" not in err
    assert f"TCP port {port} on 127.0.0.1 (control API)" in err
    assert "VOICE_SIDECAR_PORTS_CONTROL_API" in err
    events = [json.loads(line) for line in out.splitlines()]
    assert [e.get("code") for e in events if e["event"] == "error"] == ["port_busy"]


def test_an_agent_port_taken_after_the_check_is_named(tmp_path: Path) -> None:
    """Issue 15.8: the agent's health port, taken by another program after the port check,
    ended in exit 7 without naming the port. Here livekit-server itself takes it."""
    import json
    import sys

    env = up_env(tmp_path)
    health = int(env["VOICE_SIDECAR_PORTS_AGENT_HEALTH"])
    fake = write_fake_binary(tmp_path / "fake")
    squatter = tmp_path / "bin" / "livekit-server"
    squatter.parent.mkdir()
    squatter.write_text(
        f"#!{sys.executable}\n"
        "import os, socket, sys\n"
        "s = socket.socket()\n"
        f"s.bind(('127.0.0.1', {health}))\n"
        "s.listen()\n"
        "s.set_inheritable(True)\n"
        f"os.execv({str(fake)!r}, [{str(fake)!r}, *sys.argv[1:]])\n",
        encoding="utf-8",
    )
    squatter.chmod(0o755)
    up = start_up({**env, "LIVEKIT_SERVER_BIN": str(squatter)}, "--no-stdin-watch", pump=False)
    out, err = up.proc.communicate(timeout=240)
    assert up.proc.returncode == 6, err[-2000:]
    events = [json.loads(line) for line in out.splitlines()]
    error = next(e for e in events if e["event"] == "error" and e["fatal"])
    assert error["code"] == "port_busy"
    assert f"TCP port {health} on 127.0.0.1 (agent worker health)" in error["message"]
    assert "VOICE_SIDECAR_PORTS_AGENT_HEALTH" in error["message"]
    assert error["service"] == "agent"
    assert events[-1]["event"] == "stopped"
