"""The control API's limits against hostile local clients (issue 15.1): connection caps,
header and idle timeouts, and a flood of idle connections that must not exhaust the
sidecar's descriptors."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx2 as httpx
import pytest

from voice_sidecar.control_api.app import build_app, new_token
from voice_sidecar.control_api.connections import (
    Admit,
    Evict,
    OpenConnection,
    Refuse,
    admission,
)
from voice_sidecar.control_api.limits import ServerLimits
from voice_sidecar.control_api.server import ControlServer

from .children.control_api_server import QuietBackend
from .up_support import open_connections

ROOT = Path(__file__).resolve().parents[1]

SMALL = ServerLimits(max_connections=6, max_connections_per_peer=3, header_timeout_s=30)


def _c(peer: str, opened: float, authorised: bool = False) -> OpenConnection:
    return OpenConnection(peer, opened, authorised)


@pytest.mark.parametrize(
    ("open_now", "peer", "decision"),
    [
        ([], "127.0.0.1", Admit()),
        ([_c("127.0.0.1", 1), _c("127.0.0.1", 2)], "127.0.0.1", Admit()),
        # per peer: the oldest connection of that peer that never authorised makes room
        ([_c("127.0.0.1", 2), _c("127.0.0.1", 1), _c("127.0.0.1", 3)], "127.0.0.1", Evict(1)),
        (
            [_c("127.0.0.1", 1, True), _c("127.0.0.1", 2), _c("127.0.0.1", 3, True)],
            "127.0.0.1",
            Evict(1),
        ),
        (
            [_c("127.0.0.1", 1, True), _c("127.0.0.1", 2, True), _c("127.0.0.1", 3, True)],
            "127.0.0.1",
            Refuse("too many connections (3 from this address)"),
        ),
        # in all: any peer's oldest unauthorised connection
        (
            [_c(f"127.0.0.{i}", 10 - i, i == 7) for i in range(2, 8)],
            "127.0.0.9",
            Evict(4),
        ),
        (
            [_c(f"127.0.0.{i}", i, True) for i in range(2, 8)],
            "127.0.0.9",
            Refuse("too many connections (6 in all)"),
        ),
    ],
)
def test_admission(open_now: list[OpenConnection], peer: str, decision: object) -> None:
    assert admission(open_now, peer, SMALL) == decision


@dataclass
class Served:
    port: int
    token: str
    server: ControlServer

    def request(self, path: str = "/health") -> bytes:
        return (
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n"
            f"Authorization: Bearer {self.token}\r\n\r\n"
        ).encode()


@pytest.fixture
async def serve() -> AsyncIterator[object]:
    servers: list[ControlServer] = []

    async def start(limits: ServerLimits) -> Served:
        token = new_token()
        box = [0]
        server = ControlServer(
            build_app(QuietBackend(), token=token, port_ref=lambda: box[0], limits=limits),
            limits=limits,
        )
        box[0] = await server.start()
        servers.append(server)
        return Served(box[0], token, server)

    yield start
    for server in servers:
        await server.close()


async def _open(
    port: int, source: str = "127.0.0.1"
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))


async def _closed_by_server(reader: asyncio.StreamReader, within: float) -> bool:
    try:
        async with asyncio.timeout(within):
            while await reader.read(65536):
                pass
    except TimeoutError:
        return False
    except ConnectionError:
        return True
    return True


async def _get(served: Served, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> int:
    writer.write(served.request())
    await writer.drain()
    async with asyncio.timeout(5):
        status = await reader.readline()
        while (await reader.readline()).strip():
            pass
        await reader.readexactly(
            len(json.dumps({"status": "ready", "services": {}, "llm_key": "available"}))
        )
    return int(status.split()[1])


async def test_half_sent_and_idle_connections_are_closed_after_the_header_timeout(
    serve: object,
) -> None:
    """Issue 15.1: 300 half-sent requests (slowloris) were all still open after 30 s."""
    served: Served = await serve(ServerLimits(header_timeout_s=0.5))  # type: ignore[operator]
    connections = [await _open(served.port) for _ in range(10)]
    for _, writer in connections[:8]:
        writer.write(f"GET /health HTTP/1.1\r\nHost: 127.0.0.1:{served.port}\r\nX-A: ".encode())
        await writer.drain()
    # the last two send nothing at all
    started = time.monotonic()
    closed = await asyncio.gather(*(_closed_by_server(r, 5) for r, _ in connections))
    assert all(closed)
    assert 0.4 < time.monotonic() - started < 3
    # a keep-alive connection that falls idle after its response is closed the same way
    reader, writer = await _open(served.port)
    assert await _get(served, reader, writer) == 200
    assert await _closed_by_server(reader, 3)
    for _, w in [*connections, (reader, writer)]:
        w.close()


async def test_a_flood_of_idle_connections_makes_room_for_the_app(serve: object) -> None:
    served: Served = await serve(SMALL)  # type: ignore[operator]
    idle = [await _open(served.port) for _ in range(3)]
    await asyncio.sleep(0.1)
    reader, writer = await _open(served.port)
    assert await _get(served, reader, writer) == 200
    # the oldest idle one made room; the app's keeps working
    assert await _closed_by_server(idle[0][0], 2)
    assert await _get(served, reader, writer) == 200
    assert served.server.limiter.open_count == 3
    for _, w in [*idle, (reader, writer)]:
        w.close()


async def test_authorised_connections_are_kept_and_a_newcomer_gets_503(serve: object) -> None:
    served: Served = await serve(SMALL)  # type: ignore[operator]
    kept = [await _open(served.port) for _ in range(3)]
    for reader, writer in kept:
        assert await _get(served, reader, writer) == 200
    reader, writer = await _open(served.port)
    async with asyncio.timeout(5):
        answer = await reader.read()
    assert answer.startswith(b"HTTP/1.1 503 ")
    assert b'"too_many_connections"' in answer
    assert b"3 from this address" in answer
    for r, w in kept:
        assert await _get(served, r, w) == 200
        w.close()
    writer.close()


async def test_the_cap_in_all_counts_every_peer(serve: object) -> None:
    served: Served = await serve(SMALL)  # type: ignore[operator]
    idle = [await _open(served.port, f"127.0.0.{2 + i // 2}") for i in range(6)]
    await asyncio.sleep(0.1)
    assert served.server.limiter.open_count == 6
    reader, writer = await _open(served.port, "127.0.0.9")
    assert await _get(served, reader, writer) == 200
    assert await _closed_by_server(idle[0][0], 2)
    assert served.server.limiter.open_count == 6
    for _, w in [*idle, (reader, writer)]:
        w.close()


@pytest.fixture
def few_descriptors_server() -> Iterator[tuple[subprocess.Popen[str], dict[str, object]]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.children.control_api_server", "256"],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    announced = json.loads(proc.stdout.readline())
    yield proc, announced
    assert proc.stdin is not None
    proc.stdin.close()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


def test_1100_idle_connections_do_not_exhaust_the_servers_descriptors(
    few_descriptors_server: tuple[subprocess.Popen[str], dict[str, object]],
) -> None:
    """Issue 15.1: about 1,100 idle connections (no token needed) exhausted the usual
    1,024-descriptor limit; the sidecar's health checks then failed. Here the server has
    only 256 descriptors and still answers."""
    proc, announced = few_descriptors_server
    port, token = int(str(announced["port"])), str(announced["token"])
    flood = open_connections(port, 1100)
    try:
        time.sleep(1.0)
        response = httpx.get(
            f"http://127.0.0.1:{port}/health",
            headers={"Authorization": f"Bearer {token}"},
            timeout=5,
        )
        assert response.status_code == 200
        descriptors = len(list(Path(f"/proc/{proc.pid}/fd").iterdir()))
        assert descriptors < 256 - 100, descriptors
        assert proc.poll() is None
    finally:
        for sock in flood:
            sock.close()


def test_the_documented_limits_are_the_defaults() -> None:
    """docs/sidecar-protocol.md states the limits; hold it to the code."""
    text = (ROOT / "docs" / "sidecar-protocol.md").read_text(encoding="utf-8")
    limits = ServerLimits()
    from voice_sidecar.bounded_json import MAX_DEPTH, MAX_NUMBER_CHARS

    expected = {
        "connections in all": limits.max_connections,
        "connections per peer address": limits.max_connections_per_peer,
        "header and idle timeout": f"{limits.header_timeout_s:g} s",
        "body timeout": f"{limits.body_timeout_s:g} s",
        "body size": f"{limits.max_body_bytes // 1024} KiB",
        "JSON nesting depth": MAX_DEPTH,
        "JSON number length": f"{MAX_NUMBER_CHARS} characters",
    }
    for name, value in expected.items():
        assert re.search(rf"\| {re.escape(name)} \| {re.escape(str(value))} \|", text), name
