"""``voice-sidecar fetch-livekit``: install the pinned livekit-server into the user cache."""

from __future__ import annotations

import argparse
import sys

from .context import CommandContext


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from voice_sidecar.livekit_server.fetch import RELEASE_BASE_URL
    from voice_sidecar.livekit_server.version import LIVEKIT_VERSION

    parser = commands.add_parser(
        "fetch-livekit",
        help=f"download livekit-server {LIVEKIT_VERSION} for this platform",
        description="Downloads the official release binary and checks it against its published "
        "checksums. Where the release cannot be reached and Go is installed, offers to build "
        "the same version from source (--from-source does it without asking).",
    )
    parser.add_argument("--version", dest="livekit_version", default=LIVEKIT_VERSION)
    parser.add_argument(
        "--base-url", default=RELEASE_BASE_URL, help="release archive mirror (same layout)"
    )
    parser.add_argument("--dir", help="install here instead of the user cache")
    parser.add_argument(
        "--from-source",
        action="store_true",
        help="build the same version from source with Go (the Go module proxy) instead",
    )
    parser.set_defaults(handler=run_fetch)


def ask_yes_no(question: str) -> bool:
    """Asked only at a terminal; anywhere else the answer is no (and the error says how)."""
    try:
        if sys.stdin is None or not sys.stdin.isatty():
            return False
        answer = input(f"{question} [y/N] ")
    except (EOFError, OSError, ValueError):
        return False
    return answer.strip().lower() in {"y", "yes"}


def run_fetch(args: argparse.Namespace, context: CommandContext) -> int:
    from pathlib import Path

    from voice_sidecar.livekit_server.install import InstallRequest, install_livekit
    from voice_sidecar.models.progress_render import TerminalProgressBar
    from voice_sidecar.paths import default_bin_dir

    target = Path(args.dir) if args.dir else default_bin_dir()
    path = install_livekit(
        InstallRequest(
            target_dir=target,
            base_url=args.base_url,
            version=args.livekit_version,
            from_source=args.from_source,
        ),
        progress=TerminalProgressBar(sys.stderr),
        ask=ask_yes_no,
        environ=context.environ,
    )
    print(path)
    return 0
