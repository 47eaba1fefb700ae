"""docker-compose.yml, sidecar/Dockerfile, .env.example and docker/livekit.yaml, checked without
a Docker engine: the Compose Specification schema, the official Dockerfile parser, the
generated livekit-server configuration, and the promises the README makes about them (loopback
only, no --dev, the pinned version, a non-root worker with a health check). The tests marked
``docker`` ask a real engine the same questions where one exists."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import dockerfile
import jsonschema
import pytest
import yaml

from voice_sidecar.livekit_server.compose_config import (
    COMPOSE_CONFIG,
    compose_ports,
    main,
    render_compose_config,
)
from voice_sidecar.livekit_server.version import LIVEKIT_VERSION
from voice_sidecar.settings import PortSettings

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "sidecar" / "Dockerfile"
SCHEMA = Path(__file__).parent / "schemas" / "compose-spec.json"
SCHEMA_SHA256 = "56bab44c85c0ce8affb74474950293f37d510673283a243bcd7eeadb900fa35c"
AGENTS = ("voice-agent", "voice-agent-gpu", "voice-agent-1", "voice-agent-2")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def _env_example() -> dict[str, str]:
    values: dict[str, str] = {}
    for line in (ROOT / ".env.example").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, sep, value = line.partition("=")
            assert sep, f".env.example: {line!r} is not NAME=value"
            values[key.strip()] = value
    return values


# -- docker-compose.yml ----------------------------------------------------------------------


def test_the_vendored_schema_is_the_published_one() -> None:
    assert hashlib.sha256(SCHEMA.read_bytes()).hexdigest() == SCHEMA_SHA256


def test_compose_file_is_valid_against_the_compose_specification(compose: dict[str, Any]) -> None:
    import json

    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    validator = jsonschema.Draft201909Validator(schema)
    errors = sorted(validator.iter_errors(compose), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors
    )


def test_the_schema_check_catches_mistakes(compose: dict[str, Any]) -> None:
    """The validation above is not vacuous: a misspelt key or a wrong type fails it."""
    import copy
    import json

    validator = jsonschema.Draft201909Validator(json.loads(SCHEMA.read_text(encoding="utf-8")))
    broken = copy.deepcopy(compose)
    broken["services"]["livekit"]["restart_policy"] = "always"
    assert not validator.is_valid(broken)
    broken = copy.deepcopy(compose)
    broken["services"]["livekit"]["ports"] = "7880:7880"
    assert not validator.is_valid(broken)


def test_livekit_is_the_pinned_official_image_without_dev_mode(compose: dict[str, Any]) -> None:
    livekit = compose["services"]["livekit"]
    assert livekit["image"] == f"livekit/livekit-server:v{LIVEKIT_VERSION}"
    assert "--dev" not in livekit["command"]
    config = livekit["command"][livekit["command"].index("--config") + 1]
    assert f"./{COMPOSE_CONFIG.as_posix()}:{config}:ro" in livekit["volumes"]
    # keys from .env through the environment, never argv or the config file
    keys = livekit["environment"]["LIVEKIT_KEYS"]
    assert re.fullmatch(r"\$\{LIVEKIT_API_KEY:\?[^}]*\}: \$\{LIVEKIT_API_SECRET:\?[^}]*\}", keys)
    assert livekit["restart"] == "unless-stopped"
    health = livekit["healthcheck"]["test"]
    assert f"http://127.0.0.1:{compose_ports().http}/" in health


def _published(compose: dict[str, Any]) -> list[tuple[str, int, int, str]]:
    """(host address, host port, container port, protocol) of every published port."""
    found = []
    for service in compose["services"].values():
        for spec in service.get("ports", []):
            match = re.fullmatch(r"([0-9.]+):(\d+):(\d+)(?:/(tcp|udp))?", spec)
            assert match, f"{spec!r}: publish as ADDRESS:HOST:CONTAINER so the address is explicit"
            address, host, inside, protocol = match.groups()
            found.append((address, int(host), int(inside), protocol or "tcp"))
    return found


def test_ports_are_published_on_loopback_only_and_equal_inside_and_out(
    compose: dict[str, Any],
) -> None:
    published = _published(compose)
    assert {address for address, *_ in published} == {"127.0.0.1"}
    assert all(host == inside for _, host, inside, _ in published)
    ports = compose_ports()
    assert sorted((inside, protocol) for _, _, inside, protocol in published) == sorted(
        [(ports.http, "tcp"), (ports.rtc_tcp, "tcp"), (ports.rtc_udp, "udp")]
    )
    # nothing else publishes anything: the agent's health endpoint stays inside
    assert [name for name, s in compose["services"].items() if s.get("ports")] == ["livekit"]


def test_the_agent_runs_beside_livekit_on_loopback(compose: dict[str, Any]) -> None:
    volumes = compose["volumes"]
    for name in AGENTS:
        agent = compose["services"][name]
        assert agent["network_mode"] == "service:livekit"
        assert agent["depends_on"] == {"livekit": {"condition": "service_healthy"}}
        assert agent["environment"]["LIVEKIT_URL"] == f"ws://127.0.0.1:{compose_ports().http}"
        assert agent["command"] == ["agent"]
        assert agent["restart"] == "unless-stopped"
        assert agent["env_file"] == ".env"
        assert agent["build"]["dockerfile"] == "sidecar/Dockerfile"
        assert agent["build"]["context"] == "."
        # models in a named volume, where the image says they are
        [mount] = agent["volumes"]
        volume, target = mount.split(":")
        assert volume in volumes
        assert target == agent["environment"]["VOICE_SIDECAR_MODELS_DIR"] == "/models"


def test_one_agent_per_profile_and_the_gpu_one_reserves_nvidia_gpus(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    assert "profiles" not in services["livekit"]
    assert services["voice-agent"]["profiles"] == ["cpu"]
    gpu = services["voice-agent-gpu"]
    assert gpu["profiles"] == ["gpu"]
    assert gpu["build"]["args"] == {"CUDA": "1"}
    [device] = gpu["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia"
    assert device["capabilities"] == ["gpu"]
    assert "deploy" not in services["voice-agent"]
    # 'docker compose up' with the .env made from .env.example starts the CPU agent
    assert _env_example()["COMPOSE_PROFILES"] == "cpu"


def test_the_two_workers_profile_runs_two_limited_cpu_workers_with_their_own_health_ports(
    compose: dict[str, Any],
) -> None:
    """Two workers in livekit's one network namespace: a shared health port would stop the
    second (the framework's HTTP server binds it); without a conversation limit LiveKit's
    dispatch would never prefer the worker with room to spare."""
    services = compose["services"]
    pair = [services["voice-agent-1"], services["voice-agent-2"]]
    assert all(s["profiles"] == ["two-workers"] for s in pair)
    assert all("deploy" not in s for s in pair)
    ports = {s["environment"]["VOICE_SIDECAR_PORTS_AGENT_HEALTH"] for s in pair}
    assert len(ports) == 2
    for service in pair:
        assert service["environment"]["VOICE_SIDECAR_WORKER_MAX_CONVERSATIONS"] == "2"


def test_every_variable_the_compose_file_uses_is_in_env_example() -> None:
    text = COMPOSE_FILE.read_text(encoding="utf-8")
    used = set(re.findall(r"\$\{([A-Z0-9_]+)", text))
    assert used
    assert used <= set(_env_example())


def test_env_example_holds_no_secret_and_env_is_ignored() -> None:
    values = _env_example()
    for name in ("LIVEKIT_API_KEY", "LIVEKIT_API_SECRET", "NEBIUS_API_KEY"):
        assert values[name] == "", f"{name} must be empty in the template"
    git = shutil.which("git")
    if git and (ROOT / ".git").exists():
        ignored = subprocess.run(
            [git, "check-ignore", "-q", ".env"], cwd=ROOT, check=False, timeout=30
        )
        assert ignored.returncode == 0, ".env (with the real keys) must be git-ignored"


# -- docker/livekit.yaml ---------------------------------------------------------------------


def test_the_committed_livekit_config_is_the_generated_one() -> None:
    """Regenerate with: .venv/bin/python -m voice_sidecar.livekit_server.compose_config"""
    assert (ROOT / COMPOSE_CONFIG).read_text(encoding="utf-8") == render_compose_config()
    assert main(["--check", "--output", str(ROOT / COMPOSE_CONFIG)]) == 0


def test_the_check_notices_a_stale_config(tmp_path: Path) -> None:
    stale = tmp_path / "livekit.yaml"
    stale.write_text("port: 1\n", encoding="utf-8")
    assert main(["--check", "--output", str(stale)]) == 1
    assert main(["--output", str(stale)]) == 0
    assert main(["--check", "--output", str(stale)]) == 0


def test_the_container_config_binds_its_namespace_and_advertises_loopback() -> None:
    config = yaml.safe_load(render_compose_config())
    defaults = PortSettings()
    assert config["port"] == defaults.livekit_http
    # every interface of the container's own network namespace; the host publishes loopback
    assert config["bind_addresses"] == ["0.0.0.0"]
    rtc = config["rtc"]
    assert rtc["node_ip"] == "127.0.0.1"
    assert rtc["use_external_ip"] is False
    assert rtc["udp_port"] == defaults.livekit_rtc_udp
    assert rtc["tcp_port"] == defaults.livekit_rtc_tcp
    # a filter of 127.0.0.1 would leave the UDP port deaf to what Docker forwards to eth0
    assert "ips" not in rtc
    assert "keys" not in config
    assert "development" not in config


# -- sidecar/Dockerfile ----------------------------------------------------------------------


def _stages() -> list[list[dockerfile.Command]]:
    stages: list[list[dockerfile.Command]] = []
    for command in dockerfile.parse_file(str(DOCKERFILE)):
        if command.cmd == "FROM":
            stages.append([])
        if stages:
            stages[-1].append(command)
    return stages


def _uv_version_of_setup_script() -> str:
    text = (ROOT / "scripts" / "setup-dev.sh").read_text(encoding="utf-8")
    match = re.search(r'^UV_VERSION="([^"]+)"', text, re.MULTILINE)
    assert match
    return match.group(1)


def test_dockerfile_builds_in_two_stages_from_the_lock_file() -> None:
    stages = _stages()
    assert len(stages) == 2
    assert [s[0].value[-1] for s in stages] == ["build", "runtime"]
    build = stages[0]
    args = {c.value[0].split("=")[0]: c.value[0].split("=", 1)[1] for c in build if c.cmd == "ARG"}
    assert args["UV_VERSION"] == _uv_version_of_setup_script()
    runs = " ".join(" ".join(c.value) for c in build if c.cmd == "RUN")
    assert "--require-hashes -r requirements.lock" in runs
    copies = [c for c in stages[1] if c.cmd == "COPY"]
    assert [c.flags for c in copies] == [("--from=build",)]


def test_the_runtime_stage_runs_the_agent_as_a_non_root_user_with_a_health_check() -> None:
    runtime = _stages()[1]
    [user] = [c for c in runtime if c.cmd == "USER"]
    name = user.value[0].split(":")[0]
    assert name not in ("root", "0")
    assert [c.value for c in runtime if c.cmd == "ENTRYPOINT"] == [("voice-sidecar",)]
    assert [c.value for c in runtime if c.cmd == "CMD"] == [("agent",)]
    [health] = [c for c in runtime if c.cmd == "HEALTHCHECK"]
    assert health.value[0] == "CMD"
    assert any(flag.startswith("--start-period=") for flag in health.flags)
    # the instructions after USER run as that user: nothing may need root after it
    after = [c.cmd for c in runtime[runtime.index(user) :]]
    assert "RUN" not in after


def _health_command() -> list[str]:
    [health] = [c for c in _stages()[1] if c.cmd == "HEALTHCHECK"]
    return list(health.value[1:])


class _Health(BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        self.send_response(self.status)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def health_server() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(("status", "healthy"), [(200, True), (503, False)])
def test_the_health_check_command_asks_the_worker_directly(
    health_server: ThreadingHTTPServer, status: int, healthy: bool
) -> None:
    """The image's HEALTHCHECK, run here: healthy on 200, not on the worker's 503 (no
    LiveKit), and never through the proxy that .env may set for model downloads."""
    _Health.status = status
    program, *args = _health_command()
    assert program == "python"
    env = {
        **os.environ,
        "VOICE_SIDECAR_PORTS_AGENT_HEALTH": str(health_server.server_address[1]),
        "HTTP_PROXY": "http://127.0.0.1:9",
        "http_proxy": "http://127.0.0.1:9",
    }
    result = subprocess.run([sys.executable, *args], env=env, check=False, timeout=30)
    assert (result.returncode == 0) is healthy
    # and without a server at all: unhealthy
    env["VOICE_SIDECAR_PORTS_AGENT_HEALTH"] = "9"
    assert subprocess.run([sys.executable, *args], env=env, check=False, timeout=30).returncode


def test_the_health_check_defaults_to_the_agent_health_port() -> None:
    assert f"'{PortSettings().agent_health}'" in " ".join(_health_command())


def test_the_build_context_sends_what_the_dockerfile_copies_and_no_venv() -> None:
    rules = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert rules[0] == "*"  # everything out, then the few things the build needs back in
    included = {rule[1:].rstrip("/") for rule in rules if rule.startswith("!")}
    for command in _stages()[0]:
        if command.cmd == "COPY" and not command.flags:
            assert set(command.value[:-1]) <= included, command.original


# -- with a Docker engine --------------------------------------------------------------------


def _docker(*args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "LIVEKIT_API_KEY": "APItest",
        "LIVEKIT_API_SECRET": "x" * 40,
        "COMPOSE_PROFILES": "cpu",
    }
    docker = shutil.which("docker")
    assert docker is not None
    return subprocess.run(
        [docker, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
    )


@pytest.mark.docker
def test_docker_compose_accepts_the_file(tmp_path: Path) -> None:
    env_file = ROOT / ".env"
    made = not env_file.exists()
    if made:
        env_file.write_text("COMPOSE_PROFILES=cpu\n", encoding="utf-8")
    try:
        result = _docker("compose", "config", "--quiet", timeout=120)
    finally:
        if made:
            env_file.unlink()
    assert result.returncode == 0, result.stderr


@pytest.mark.docker
@pytest.mark.slow
def test_the_agent_image_builds() -> None:
    result = _docker("build", "-f", "sidecar/Dockerfile", "--target", "runtime", ".", timeout=1800)
    assert result.returncode == 0, result.stderr[-4000:]
