"""Real parts of a scaled-out deployment, started by the tests themselves on loopback: a Redis,
livekit-server nodes (one alone, or several sharing the Redis), and ``voice-sidecar agent``
workers registered with a node, as a hosted deployment would run them (no ``up``).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2 as httpx

from voice_sidecar.agent_worker import AGENT_NAME
from voice_sidecar.bench.room_participant import RoomParticipant, SessionGrant
from voice_sidecar.control_api.session_tokens import mint_session
from voice_sidecar.livekit_server.server_config import (
    LiveKitPorts,
    render_config,
    server_argv,
    server_environment,
)
from voice_sidecar.persona import parse_session_request
from voice_sidecar.secret_store import LiveKitCredentials
from voice_sidecar.worker_registration import WorkerLoad, registered_at, worker_load

from .livekit_fixtures import free_ports, real_livekit_server, redis_server
from .up_support import home_env

CREDENTIALS = LiveKitCredentials("APIcluster", "k" * 44)
PYTHON_AGENT = [sys.executable, "-m", "voice_sidecar", "agent"]


def _wait(predicate: Any, timeout: float, what: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        if proc.poll() is not None:
            raise AssertionError(f"{what}: the process exited with {proc.returncode}")
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _stop(proc: subprocess.Popen[bytes], *, grace_s: float = 10.0) -> None:
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(grace_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


@dataclass
class Redis:
    port: int
    proc: subprocess.Popen[bytes]

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @classmethod
    @contextlib.contextmanager
    def running(cls, folder: Path) -> Iterator[Redis]:
        binary = redis_server()
        assert binary is not None, "the redis marker skips tests without redis-server"
        (port,) = free_ports(1)
        folder.mkdir(parents=True, exist_ok=True)
        # loopback only, no persistence (no RDB snapshot, no AOF), no config file of the system
        proc = subprocess.Popen(
            [
                *(str(binary), "--bind", "127.0.0.1", "--port", str(port), "--save", ""),
                *("--appendonly", "no", "--dir", str(folder), "--protected-mode", "yes"),
            ],
            stdout=(folder / "redis.log").open("wb"),
            stderr=subprocess.STDOUT,
        )
        redis = cls(port, proc)
        try:
            _wait(redis.ping, 15, "redis-server", proc)
            yield redis
        finally:
            _stop(proc)

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False


@dataclass
class Node:
    """One livekit-server process."""

    name: str
    ports: LiveKitPorts
    proc: subprocess.Popen[bytes]
    log: Path

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.ports.http}"

    @classmethod
    def start(cls, folder: Path, name: str, *, redis: Redis | None = None) -> Node:
        binary = real_livekit_server()
        assert binary is not None, "the livekit_server marker skips tests without a binary"
        http, udp = free_ports(2)
        ports = LiveKitPorts(http, None, udp)
        folder.mkdir(parents=True, exist_ok=True)
        config = folder / f"{name}.yaml"
        config.write_text(
            render_config(ports, redis_address=redis.address if redis else None),
            encoding="utf-8",
        )
        log = folder / f"{name}.log"
        proc = subprocess.Popen(
            server_argv(str(binary), str(config)),
            env=server_environment(os.environ, CREDENTIALS),
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
        )
        node = cls(name, ports, proc, log)
        _wait(node.healthy, 30, f"livekit-server {name}", proc)
        return node

    def healthy(self) -> bool:
        try:
            url = f"http://127.0.0.1:{self.ports.http}/"
            return httpx.get(url, timeout=1, trust_env=False).status_code == 200
        except httpx.HTTPError:
            return False

    def log_text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def grant(self, request: dict[str, Any] | None = None) -> SessionGrant:
        """A session on this node, exactly as ``POST /session`` mints it."""
        body = mint_session(
            parse_session_request(request or {"version": 1}),
            credentials=CREDENTIALS,
            livekit_url=self.url,
            agent_name=AGENT_NAME,
        )
        return SessionGrant(body["livekit_url"], body["token"], body["room"], body["identity"])

    async def join(self, request: dict[str, Any] | None = None) -> RoomParticipant:
        participant = RoomParticipant()
        await participant.connect(self.grant(request))
        await participant.wait_for_agent_audio(60)
        return participant

    def stop(self) -> None:
        _stop(self.proc)


@dataclass
class Worker:
    """One ``voice-sidecar agent`` process, registered with one node."""

    name: str
    proc: subprocess.Popen[bytes]
    health_port: int
    marker: Path
    log: Path
    env: dict[str, str] = field(repr=False)

    @classmethod
    def start(
        cls,
        folder: Path,
        name: str,
        node: Node,
        *,
        llm_base_url: str,
        max_conversations: int = 0,
        extra_env: dict[str, str] | None = None,
        args: tuple[str, ...] = (),
    ) -> Worker:
        (health,) = free_ports(1)
        folder.mkdir(parents=True, exist_ok=True)
        marker = folder / f"{name}-registration.json"
        log = folder / f"{name}.log"
        env = {
            **os.environ,
            "LIVEKIT_URL": node.url,
            "LIVEKIT_API_KEY": CREDENTIALS.api_key,
            "LIVEKIT_API_SECRET": CREDENTIALS.api_secret,
            "VOICE_SIDECAR_STT_MODEL": "tiny.en",
            "VOICE_SIDECAR_PORTS_AGENT_HEALTH": str(health),
            "VOICE_SIDECAR_LLM_BASE_URL": llm_base_url,
            "VOICE_SIDECAR_LLM_API_KEY": "test-key-for-the-stand-in",
            "VOICE_SIDECAR_WORKER_MAX_CONVERSATIONS": str(max_conversations),
            **home_env(folder / name),
            **(extra_env or {}),
        }
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "voice_sidecar",
                "agent",
                "--registration-file",
                str(marker),
                *args,
            ],
            env=env,
            stdin=subprocess.DEVNULL,  # a service: no supervisor's pipe to watch
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
        )
        return cls(name, proc, health, marker, log, env)

    def wait_registered(self, timeout: float = 180) -> None:
        _wait(lambda: registered_at(self.marker) is not None, timeout, self.name, self.proc)

    def load(self) -> WorkerLoad | None:
        return worker_load(self.marker)

    def open_conversations(self) -> int:
        load = self.load()
        return load.open_conversations if load else 0

    def kill(self) -> None:
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        _stop(self.proc, grace_s=30)

    def log_text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")
