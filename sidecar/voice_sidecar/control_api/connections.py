"""Connection caps of the control API: per peer address and in all.

Every local process can open connections to the API; without a cap about 1,100 idle ones
exhausted the sidecar's descriptors, its health checks failed and the services it
supervises were restarted into a crash loop. When a cap is reached, room is made by closing
the oldest connection that has not yet made an authorised request (the app's connections
authorise at once; a flood's never do); when there is none, the newcomer gets 503.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from aiohttp import web

from .limits import ServerLimits


@dataclass(frozen=True)
class OpenConnection:
    peer: str
    opened: float
    authorised: bool


@dataclass(frozen=True)
class Admit:
    pass


@dataclass(frozen=True)
class Evict:
    index: int
    """Which of the open connections to close first."""


@dataclass(frozen=True)
class Refuse:
    reason: str


def admission(
    open_now: Sequence[OpenConnection], peer: str, limits: ServerLimits
) -> Admit | Evict | Refuse:
    """Whether a new connection from ``peer`` may join ``open_now`` (a pure decision)."""
    same_peer = [i for i, c in enumerate(open_now) if c.peer == peer]
    if len(same_peer) >= limits.max_connections_per_peer:
        candidates, reason = same_peer, f"{limits.max_connections_per_peer} from this address"
    elif len(open_now) >= limits.max_connections:
        candidates, reason = list(range(len(open_now))), f"{limits.max_connections} in all"
    else:
        return Admit()
    unproven = [i for i in candidates if not open_now[i].authorised]
    if not unproven:
        return Refuse(f"too many connections ({reason})")
    return Evict(min(unproven, key=lambda i: open_now[i].opened))


def _busy_response(reason: str) -> bytes:
    body = json.dumps(
        {"error": {"code": "too_many_connections", "message": f"{reason}; retry shortly"}}
    ).encode()
    head = (
        "HTTP/1.1 503 Service Unavailable\r\n"
        "Content-Type: application/json; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Retry-After: 1\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


class ConnectionLimiter:
    """The open connections, and the decision for each new one (event loop thread only)."""

    def __init__(self, limits: ServerLimits, *, clock: Callable[[], float] = time.monotonic):
        self.limits = limits
        self._clock = clock
        self._open: list[LimitedProtocol] = []

    def now(self) -> float:
        return self._clock()

    @property
    def open_count(self) -> int:
        return len(self._open)

    def admit(self, protocol: LimitedProtocol) -> Refuse | None:
        """None when ``protocol`` may proceed (after evicting one if need be)."""
        while True:
            decision = admission(
                [OpenConnection(p.peer, p.opened, p.authorised) for p in self._open],
                protocol.peer,
                self.limits,
            )
            if isinstance(decision, Refuse):
                return decision
            if isinstance(decision, Admit):
                self._open.append(protocol)
                return None
            self._open.pop(decision.index).evict()

    def release(self, protocol: LimitedProtocol) -> None:
        if protocol in self._open:
            self._open.remove(protocol)


class LimitedProtocol(asyncio.Protocol):
    """Admits a connection through the limiter, then hands it to aiohttp's protocol."""

    def __init__(self, limiter: ConnectionLimiter, make_inner: Callable[[], asyncio.Protocol]):
        self._limiter = limiter
        self._make_inner = make_inner
        self._inner: asyncio.Protocol | None = None
        self._transport: asyncio.Transport | None = None
        self.peer = "?"
        self.opened = 0.0
        self.authorised = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        peer = transport.get_extra_info("peername")
        self.peer = str(peer[0]) if isinstance(peer, tuple) and peer else "?"
        self.opened = self._limiter.now()
        refusal = self._limiter.admit(self)
        if refusal is not None:
            transport.write(_busy_response(refusal.reason))
            transport.close()
            return
        self._inner = self._make_inner()
        self._inner.connection_made(transport)

    def evict(self) -> None:
        if self._transport is not None:
            self._transport.abort()

    def data_received(self, data: bytes) -> None:
        if self._inner is not None:
            self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received() if self._inner is not None else None

    def pause_writing(self) -> None:
        if self._inner is not None:
            self._inner.pause_writing()

    def resume_writing(self) -> None:
        if self._inner is not None:
            self._inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        self._limiter.release(self)
        if self._inner is not None:
            self._inner.connection_lost(exc)


def mark_authorised(request: web.Request) -> None:
    """The request on this connection carried the token: it is no longer evicted for room."""
    transport = request.transport
    protocol = transport.get_protocol() if transport is not None else None
    if isinstance(protocol, LimitedProtocol):
        protocol.authorised = True
