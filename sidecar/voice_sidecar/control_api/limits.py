"""The control API's limits, in one place: docs/sidecar-protocol.md states them, tests hold
both to the same numbers."""

from __future__ import annotations

from dataclasses import dataclass

MAX_BODY_BYTES = 64 * 1024


@dataclass(frozen=True)
class ServerLimits:
    """What one client may hold of the control API. All of it is local, and so is an attacker:
    these bounds keep a hostile neighbour from taking the API (or the sidecar's descriptors)."""

    max_connections: int = 64
    """Open connections in all."""
    max_connections_per_peer: int = 16
    """Open connections from one peer address."""
    header_timeout_s: float = 10.0
    """A connection must send a complete request head within this long of opening, or of the
    end of its previous response (the keep-alive idle time); otherwise it is closed."""
    body_timeout_s: float = 10.0
    """A request's body must have arrived this long after its head (else 408)."""
    max_body_bytes: int = MAX_BODY_BYTES
    """Largest body (else 413)."""

    def __post_init__(self) -> None:
        if min(self.max_connections, self.max_connections_per_peer, self.max_body_bytes) < 1:
            raise ValueError("connection and body limits must be at least 1")
        if min(self.header_timeout_s, self.body_timeout_s) <= 0:
            raise ValueError("timeouts must be positive")
