"""The loopback probes answer False for anything but a healthy server, within their bound."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from voice_sidecar.supervisor.probes import http_probe, http_status, tcp_probe

pytestmark = pytest.mark.timeout(15)

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def _serve(handler: Handler) -> tuple[asyncio.Server, int]:
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


async def _answer(reply: bytes) -> AsyncIterator[int]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(reply)
        await writer.drain()
        writer.close()

    server, port = await _serve(handle)
    async with server:
        yield port


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize(
    ("reply", "status", "healthy"),
    [
        (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK", 200, True),
        (b"HTTP/1.0 503 Service Unavailable\r\n\r\n", 503, False),
        (b"SSH-2.0-OpenSSH\r\n", None, False),
        (b"", None, False),
    ],
)
async def test_http_status_and_probe(reply: bytes, status: int | None, healthy: bool) -> None:
    async for port in _answer(reply):
        assert await http_status("127.0.0.1", port, timeout_s=2) == status
        assert await http_probe("127.0.0.1", port, timeout_s=2)() is healthy


async def test_a_silent_server_is_unhealthy_within_the_timeout() -> None:
    async def never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while await reader.read(1024):  # reads the request, answers nothing
            pass
        writer.close()

    server, port = await _serve(never_answer)
    async with server:
        started = asyncio.get_running_loop().time()
        assert await http_status("127.0.0.1", port, timeout_s=0.2) is None
        assert asyncio.get_running_loop().time() - started < 1.0
        assert await tcp_probe("127.0.0.1", port)() is True  # it does accept connections


async def test_nothing_listening() -> None:
    port = _free_port()
    assert await http_status("127.0.0.1", port) is None
    assert await tcp_probe("127.0.0.1", port)() is False
