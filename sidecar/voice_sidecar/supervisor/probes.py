"""Ready and live probes for services that answer on a loopback port."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Container

from voice_sidecar.supervisor.resources import ProbeInconclusiveError, is_resource_shortage
from voice_sidecar.supervisor.spec import Probe


async def http_status(
    host: str, port: int, path: str = "/", *, timeout_s: float = 2.0
) -> int | None:
    """The status code of ``GET path`` (HTTP/1.0), or ``None`` if there is no valid answer
    within ``timeout_s`` (refused, reset, silent, not HTTP). ``ProbeInconclusiveError`` when
    this process could not even open the socket (out of descriptors)."""
    request = f"GET {path} HTTP/1.0\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n"
    try:
        async with asyncio.timeout(timeout_s):
            reader, writer = await asyncio.open_connection(host, port)
            try:
                writer.write(request.encode("ascii"))
                await writer.drain()
                status_line = await reader.readline()
            finally:
                writer.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()
    except OSError as error:
        if is_resource_shortage(error):
            raise ProbeInconclusiveError(str(error)) from error
        return None
    except (TimeoutError, ValueError):
        return None
    parts = status_line.split()
    if len(parts) >= 2 and parts[0].startswith(b"HTTP/") and parts[1].isdigit():
        return int(parts[1])
    return None


def http_probe(
    host: str,
    port: int,
    path: str = "/",
    *,
    timeout_s: float = 2.0,
    healthy: Container[int] = range(200, 300),
) -> Probe:
    """A probe that passes when ``GET path`` answers with a status in ``healthy``."""

    async def probe() -> bool:
        status = await http_status(host, port, path, timeout_s=timeout_s)
        return status is not None and status in healthy

    return probe


def tcp_probe(host: str, port: int, *, timeout_s: float = 2.0) -> Probe:
    """A probe that passes when the port accepts a connection."""

    async def probe() -> bool:
        try:
            async with asyncio.timeout(timeout_s):
                _, writer = await asyncio.open_connection(host, port)
        except OSError as error:
            if is_resource_shortage(error):
                raise ProbeInconclusiveError(str(error)) from error
            return False
        except TimeoutError:
            return False
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return True

    return probe
