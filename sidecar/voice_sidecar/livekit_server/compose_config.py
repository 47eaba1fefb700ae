"""``docker/livekit.yaml``: the livekit-server configuration that docker-compose.yml mounts.

Rendered by the same ``render_config`` as ``voice-sidecar up`` uses, for a server alone in
its container's network namespace (``container=True``), on the default ports. Regenerate it
after changing either, from the repository root:

    .venv/bin/python -m voice_sidecar.livekit_server.compose_config

``--check`` exits 1 when the file differs; tests/test_compose.py does the same comparison.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from voice_sidecar.settings import PortSettings

from .server_config import LiveKitPorts, render_config

COMPOSE_CONFIG = Path("docker") / "livekit.yaml"


def compose_ports() -> LiveKitPorts:
    """The default ports: docker-compose.yml publishes exactly these."""
    defaults = PortSettings()
    return LiveKitPorts(defaults.livekit_http, defaults.livekit_rtc_tcp, defaults.livekit_rtc_udp)


def render_compose_config() -> str:
    return render_config(compose_ports(), container=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m voice_sidecar.livekit_server.compose_config",
        description="Write docker/livekit.yaml for docker-compose.yml.",
    )
    parser.add_argument("--output", type=Path, default=COMPOSE_CONFIG)
    parser.add_argument("--check", action="store_true", help="exit 1 if the file is out of date")
    args = parser.parse_args(argv)
    output: Path = args.output
    text = render_compose_config()
    if args.check:
        current = output.read_text(encoding="utf-8") if output.is_file() else None
        if current != text:
            print(f"{output} is out of date; regenerate it (see {__name__})", file=sys.stderr)
            return 1
        return 0
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, encoding="utf-8", newline="\n")
    print(output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
