"""The control API served on 127.0.0.1 within ``ServerLimits``."""

from __future__ import annotations

import asyncio
import contextlib
import errno

from aiohttp import web

from voice_sidecar.ports import PortNeed, port_busy_error

from .connections import ConnectionLimiter, LimitedProtocol
from .limits import ServerLimits

CONTROL_API_NEED_PURPOSE = "control API"


class ControlServer:
    """aiohttp's HTTP protocol behind the connection caps, with its keep-alive timer as the
    header and idle timeout (aiohttp arms it when a connection opens and after every
    response, and closes the connection if no complete request head came by then)."""

    def __init__(
        self, app: web.Application, *, port: int = 0, limits: ServerLimits | None = None
    ) -> None:
        self.limits = limits or ServerLimits()
        self.limiter = ConnectionLimiter(self.limits)
        self._app = app
        self._requested_port = port
        self._runner: web.AppRunner | None = None
        self._server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> int:
        """Listen; ``PortBusyError`` (exit 6) when a fixed port is taken."""
        runner = web.AppRunner(
            self._app,
            access_log=None,
            handle_signals=False,
            keepalive_timeout=self.limits.header_timeout_s,
        )
        await runner.setup()
        handler = runner.server
        assert handler is not None
        loop = asyncio.get_running_loop()
        try:
            self._server = await loop.create_server(
                lambda: LimitedProtocol(self.limiter, handler),
                "127.0.0.1",
                self._requested_port,
                backlog=self.limits.max_connections,
            )
        except OSError as exc:
            await runner.cleanup()
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                need = PortNeed(
                    self._requested_port, "tcp", CONTROL_API_NEED_PURPOSE, "ports.control_api"
                )
                raise port_busy_error(need) from None
            raise
        self._runner = runner
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self.port

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._server is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), 2.0)
            self._server = None
