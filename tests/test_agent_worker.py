"""``voice-sidecar agent`` as a real process, registering with a livekit-server stand-in."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2 as httpx
import psutil
import pytest

from voice_sidecar.agent_worker import AGENT_NAME, latency_report
from voice_sidecar.livekit_server.server_config import (
    LiveKitPorts,
    render_config,
    server_environment,
)
from voice_sidecar.secret_store import LiveKitCredentials

from .livekit_fixtures import FAKE_SERVER, free_ports

CREDENTIALS = LiveKitCredentials("APIworker", "w" * 44)


def _wait_for(predicate, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def fake_livekit(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    http, tcp, udp = free_ports(3)
    config = tmp_path / "livekit.yaml"
    config.write_text(render_config(LiveKitPorts(http, tcp, udp)))
    record = tmp_path / "registrations.jsonl"
    env = server_environment(os.environ, CREDENTIALS) | {"FAKE_LIVEKIT_RECORD": str(record)}
    proc = subprocess.Popen([sys.executable, str(FAKE_SERVER), "--config", str(config)], env=env)
    _wait_for(lambda: _ok(f"http://127.0.0.1:{http}/"), 15, "the fake livekit-server")
    yield http, record
    proc.terminate()
    proc.wait(10)


def _ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.mark.slow
def test_worker_registers_serves_health_on_loopback_and_stops(
    fake_livekit: tuple[int, Path],
) -> None:
    http_port, record = fake_livekit
    (health_port,) = free_ports(1)
    env = dict(
        os.environ,
        LIVEKIT_URL=f"ws://127.0.0.1:{http_port}",
        LIVEKIT_API_KEY=CREDENTIALS.api_key,
        LIVEKIT_API_SECRET=CREDENTIALS.api_secret,
        VOICE_SIDECAR_STT_MODEL="tiny.en",
        VOICE_SIDECAR_PORTS_AGENT_HEALTH=str(health_port),
        VOICE_SIDECAR_LLM_BASE_URL="http://127.0.0.1:9/v1",
    )
    worker = subprocess.Popen(
        [sys.executable, "-m", "voice_sidecar", "agent"],
        env=env,
        stdin=subprocess.PIPE,  # as under `up`: its end means the supervisor is gone
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_for(lambda: record.exists() and record.read_text().strip() != "", 90, "registration")
        registration = json.loads(record.read_text().splitlines()[0])
        assert registration["agent_name"] == AGENT_NAME
        _wait_for(lambda: _ok(f"http://127.0.0.1:{health_port}/"), 30, "the health endpoint")
        listening = [
            c.laddr
            for c in psutil.Process(worker.pid).net_connections(kind="inet")
            if c.status == psutil.CONN_LISTEN
        ]
        assert listening, "the worker listens on nothing"
        assert all(addr.ip == "127.0.0.1" for addr in listening), listening
        cmdline = " ".join(psutil.Process(worker.pid).cmdline())
        assert CREDENTIALS.api_secret not in cmdline
        assert worker.stdin is not None
        worker.stdin.close()
        worker.stdin = None
        _, stderr = worker.communicate(timeout=30)
        assert worker.returncode is not None, "the worker outlived its supervisor's pipe"
    finally:
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
            try:
                worker.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.communicate()
    assert CREDENTIALS.api_secret not in stderr
    assert "the supervisor is gone" in stderr or worker.returncode == 0


def test_latency_report_rounds_and_tolerates_missing_figures() -> None:
    report = latency_report(
        {"end_of_turn_delay": 0.61234, "transcription_delay": 0.6},
        {"llm_node_ttft": 0.05, "tts_node_ttfb": 0.1, "e2e_latency": 0.9},
    )
    assert report == {
        "end_of_turn_s": 0.612,
        "stt_s": 0.6,
        "llm_ttft_s": 0.05,
        "llm_first_sentence_s": None,
        "tts_ttfb_s": 0.1,
        "e2e_s": 0.9,
    }
