"""Are the stack's ports free on 127.0.0.1, and if not, who holds them?"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from typing import Literal

from .errors import UserFacingError
from .settings import PortSettings

Protocol = Literal["tcp", "udp"]


class PortBusyError(UserFacingError):
    exit_code = 6


@dataclass(frozen=True)
class PortNeed:
    port: int
    protocol: Protocol
    purpose: str
    setting: str
    """Dotted settings name that moves it."""


def bind_problem(port: int, protocol: Protocol) -> str | None:
    """None when the port can be bound on 127.0.0.1; else the OS's reason."""
    kind = socket.SOCK_STREAM if protocol == "tcp" else socket.SOCK_DGRAM
    with socket.socket(socket.AF_INET, kind) as sock:
        if protocol == "tcp" and os.name != "nt":
            # a server sets this too: a port in TIME_WAIT is free for it
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError as exc:
            return exc.strerror or str(exc)
    return None


def is_free(port: int, protocol: Protocol) -> bool:
    return bind_problem(port, protocol) is None


def port_needs(ports: PortSettings) -> list[PortNeed]:
    """Every port ``up`` binds, with what it is for and the setting that moves it (not
    ``ports.livekit_rtc_tcp``: only Docker Compose opens it, see ``server_config``)."""
    return [
        PortNeed(ports.livekit_http, "tcp", "livekit-server signalling", "ports.livekit_http"),
        PortNeed(
            ports.livekit_rtc_udp, "udp", "livekit-server WebRTC/UDP", "ports.livekit_rtc_udp"
        ),
        PortNeed(ports.agent_health, "tcp", "agent worker health", "ports.agent_health"),
        *(
            [PortNeed(ports.control_api, "tcp", "control API", "ports.control_api")]
            if ports.control_api
            else []  # 0: any free port, never busy
        ),
    ]


def holder_of(port: int, protocol: Protocol) -> str | None:
    """Name and pid of the process bound to the port, when the OS lets us see it."""
    import psutil

    kind = "tcp" if protocol == "tcp" else "udp"
    try:
        connections = psutil.net_connections(kind=kind)
    except (psutil.AccessDenied, OSError):
        return None
    for conn in connections:
        if conn.laddr and conn.laddr.port == port and conn.pid:
            try:
                return f"{psutil.Process(conn.pid).name()} (pid {conn.pid})"
            except psutil.Error:
                return f"pid {conn.pid}"
    return None


def port_busy_error(need: PortNeed) -> PortBusyError:
    """The one-line error for a taken port: which, who holds it, and the setting that moves it."""
    holder = holder_of(need.port, need.protocol)
    by = f" by {holder}" if holder else ""
    env = "VOICE_SIDECAR_" + need.setting.replace(".", "_").upper()
    return PortBusyError(
        f"{need.protocol.upper()} port {need.port} on 127.0.0.1 ({need.purpose}) is already "
        f"in use{by}; stop that program or choose another port with {env}"
    )


def first_busy(needs: list[PortNeed]) -> PortNeed | None:
    return next((need for need in needs if not is_free(need.port, need.protocol)), None)


def check_ports(needs: list[PortNeed]) -> None:
    """Raise PortBusyError naming the first busy port, its holder and the setting to change."""
    busy = first_busy(needs)
    if busy is not None:
        raise port_busy_error(busy)
