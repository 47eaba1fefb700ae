"""``voice-sidecar up``: the whole voice backend for the desktop app or the start scripts."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

from voice_sidecar.errors import UserFacingError

from .context import CommandContext

# exit codes and error codes of docs/sidecar-protocol.md
_ERROR_CODES = {
    2: "config_invalid",
    4: "model_download_failed",
    5: "livekit_not_found",
    6: "port_busy",
    7: "service_fatal",
    8: "already_running",
}


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "up",
        help="run livekit-server and the agent worker under supervision, with the control API",
        description="Starts the voice backend and prints JSON-lines events on stdout "
        "(docs/sidecar-protocol.md). Stops when the parent process exits, stdin closes, "
        "POST /shutdown arrives, or on Ctrl+C.",
    )
    parser.add_argument("--parent-pid", type=int, help="stop when this process is gone")
    parser.add_argument(
        "--no-stdin-watch",
        action="store_true",
        help="do not treat end of stdin as the signal to stop (for service managers)",
    )
    parser.add_argument(
        "--dev-origin",
        action="append",
        default=[],
        help="an extra Origin allowed on the control API, e.g. http://localhost:5173",
    )
    parser.set_defaults(handler=run_up)


def _file_logging(context: CommandContext) -> str:
    from voice_sidecar.log import add_file_handler
    from voice_sidecar.paths import default_log_file
    from voice_sidecar.redaction import install

    configured = context.settings.logging.file
    path = Path(configured) if configured else default_log_file()
    add_file_handler(path, level=logging.INFO, rotate=True)
    root = logging.getLogger()
    root.setLevel(min(root.level, logging.INFO))
    install(context.redactor)
    return str(path)


def _child_args(args: argparse.Namespace) -> list[str]:
    """Settings given on our command line, passed on to the agent (none of them secret)."""
    passed: list[str] = []
    if args.config is not None:
        passed += ["--config", str(args.config)]
    for item in args.set:
        passed += ["--set", item]
    for flag in ("log_level", "models_dir"):
        value = getattr(args, flag, None)
        if value is not None:
            passed += [f"--{flag.replace('_', '-')}", str(value)]
    return passed


def run_up(args: argparse.Namespace, context: CommandContext) -> int:
    from voice_sidecar.events import EventWriter
    from voice_sidecar.stack import StackOptions, run_stack

    events = EventWriter(sys.stdout, context.redactor)
    log_file = _file_logging(context)
    try:
        return asyncio.run(
            run_stack(
                context,
                events,
                StackOptions(
                    parent_pid=args.parent_pid,
                    watch_stdin=not args.no_stdin_watch,
                    agent_args=_child_args(args),
                    dev_origins=args.dev_origin,
                    log_file=Path(log_file),
                ),
            )
        )
    except UserFacingError as exc:
        events.error(
            _ERROR_CODES.get(exc.exit_code, "internal"),
            context.redactor.redact(str(exc)),
            fatal=True,
        )
        events.emit("stopped", reason="fatal")
        raise
