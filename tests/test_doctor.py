"""``voice-sidecar doctor``: each check alone, then the command as a user runs it."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from voice_sidecar.commands.doctor import check_livekit_server, check_models, check_ports
from voice_sidecar.models.catalog import load_catalog
from voice_sidecar.models.store import ModelStore
from voice_sidecar.plugins.device import HardwareFacts, Preferences, decide_hardware
from voice_sidecar.plugins.hardware import whisper_footprints
from voice_sidecar.settings import ModelSettings, PortSettings, Settings, SttSettings


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def _ports(**given: int) -> PortSettings:
    ports = {
        "livekit_http": _free_port(),
        "livekit_rtc_tcp": _free_port(),
        "livekit_rtc_udp": _free_port(),
        "agent_health": _free_port(),
    }
    ports.update(given)
    return PortSettings(**ports)


def test_ports_free_and_busy(busy_port: int) -> None:
    checks = check_ports(_ports())
    assert [c.status for c in checks] == ["ok"] * 3  # up opens no WebRTC/TCP port
    checks = check_ports(_ports(agent_health=busy_port))
    bad = [c for c in checks if c.status == "problem"]
    assert len(bad) == 1
    assert f"port {busy_port}/tcp" in bad[0].name
    assert bad[0].fix is not None
    assert "ports.agent_health" in bad[0].fix


def test_udp_port_in_use_is_found() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
        checks = check_ports(_ports(livekit_rtc_udp=port))
    assert [c.status for c in checks if "udp" in c.name] == ["problem"]


def _executable(path: Path) -> Path:
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def test_livekit_server_lookup(tmp_path: Path) -> None:
    binary = _executable(tmp_path / "livekit-server")
    cache = tmp_path / "cache"
    found = check_livekit_server({"LIVEKIT_SERVER_BIN": str(binary)}, cache_bin_dir=cache)
    assert (found.status, found.detail) == ("ok", f"{binary} (LIVEKIT_SERVER_BIN)")
    wrong = check_livekit_server(
        {"LIVEKIT_SERVER_BIN": str(tmp_path / "nope")}, cache_bin_dir=cache
    )
    assert wrong.status == "problem"
    assert wrong.fix == "fix or unset it"
    on_path = check_livekit_server({"PATH": str(tmp_path)}, cache_bin_dir=cache)
    assert on_path.status == "ok"
    assert "(PATH)" in on_path.detail
    missing = check_livekit_server({"PATH": ""}, cache_bin_dir=cache)
    assert missing.status == "warning"
    assert missing.fix is not None
    assert "fetch-livekit" in missing.fix
    assert "LIVEKIT_SERVER_BIN" in missing.fix


def test_missing_model_offline_is_a_problem_with_a_fix(tmp_path: Path) -> None:
    settings = Settings(stt=SttSettings(model="small.en"), models=ModelSettings(offline=True))
    store = ModelStore(tmp_path, catalog=load_catalog(), cache_dir=tmp_path / "cache")
    facts = HardwareFacts(cpu_count=2)
    decision = decide_hardware(
        facts, Preferences(model="small.en"), whisper_footprints(load_catalog())
    )
    checks = {c.name: c for c in check_models(settings, store, decision)}
    stt = checks["speech recognition model small.en"]
    assert stt.status == "problem"
    assert stt.fix is not None
    assert "models pull small.en" in stt.fix
    assert checks["speech synthesis model en_US-joe-medium"].status == "ok"


def _doctor(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "voice_sidecar", "doctor", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def test_doctor_explains_the_decision_on_this_machine(tmp_path: Path, busy_port: int) -> None:
    env = dict(os.environ)
    ports = _ports()
    for key in ("livekit_http", "livekit_rtc_tcp", "livekit_rtc_udp", "agent_health"):
        env[f"VOICE_SIDECAR_PORTS_{key.upper()}"] = str(getattr(ports, key))
    env["VOICE_SIDECAR_MODELS_DIR"] = str(tmp_path / "models")
    env["VOICE_SIDECAR_STT_MODEL"] = "tiny.en"
    env["LIVEKIT_SERVER_BIN"] = str(_executable(tmp_path / "livekit-server"))
    proc = _doctor(env, "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(proc.stdout)
    assert report["ok"] is True
    assert report["decision"]["device"] == "cpu"
    assert report["decision"]["model"] == "tiny.en"
    assert "no CUDA device found" in report["decision"]["reason"]
    assert report["machine"]["cpu_count"] >= 1
    installed = {m["name"]: m["source"] for m in report["installed_models"]}
    assert installed["tiny.en"] == "package"
    names = [c["name"] for c in report["checks"]]
    assert "livekit-server" in names
    assert "keyring" in names
    assert sum(name.startswith("port ") for name in names) == 3
    # a busy port is a problem, with its fix, and the exit code says so
    env["VOICE_SIDECAR_PORTS_AGENT_HEALTH"] = str(busy_port)
    proc = _doctor(env)
    assert proc.returncode == 1
    assert "speech recognition would run: tiny.en on cpu/int8" in proc.stdout
    assert f"[problem] port {busy_port}/tcp" in proc.stdout
    assert "fix: stop the program that uses it" in proc.stdout
