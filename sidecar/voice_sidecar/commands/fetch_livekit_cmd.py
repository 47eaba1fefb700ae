"""``voice-sidecar fetch-livekit``: install the pinned livekit-server into the user cache."""

from __future__ import annotations

import argparse
import sys

from .context import CommandContext


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from voice_sidecar.livekit_server.fetch import LIVEKIT_VERSION, RELEASE_BASE_URL

    parser = commands.add_parser(
        "fetch-livekit", help=f"download livekit-server {LIVEKIT_VERSION} for this platform"
    )
    parser.add_argument("--version", dest="livekit_version", default=LIVEKIT_VERSION)
    parser.add_argument(
        "--base-url", default=RELEASE_BASE_URL, help="release archive mirror (same layout)"
    )
    parser.add_argument("--dir", help="install here instead of the user cache")
    parser.set_defaults(handler=run_fetch)


def run_fetch(args: argparse.Namespace, context: CommandContext) -> int:
    from pathlib import Path

    from voice_sidecar.livekit_server.fetch import fetch_livekit
    from voice_sidecar.models.progress_render import TerminalProgressBar
    from voice_sidecar.paths import default_bin_dir

    target = Path(args.dir) if args.dir else default_bin_dir()
    path = fetch_livekit(
        target_dir=target,
        version=args.livekit_version,
        base_url=args.base_url,
        progress=TerminalProgressBar(sys.stderr),
    )
    print(path)
    return 0
