"""``voice-sidecar``: the single entry point. It builds the settings once and runs a command."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, NoReturn

from . import __version__
from .errors import UserFacingError
from .log import LOG_FORMAT, SUPERVISED_VARIABLE, JsonFormatter, add_file_handler
from .paths import default_config_file
from .process_exit import end_process, native_runtime_started
from .redaction import Redactor, install
from .runtime_env import apply_process_defaults
from .settings import LoggingSettings
from .settings_loader import CONFIG_FILE_VARIABLE, load_settings

Handler = Callable[[argparse.Namespace, Any], int]

# command-line flags that set a setting (dotted name); --set KEY=VALUE reaches every other one
FLAG_SETTINGS: dict[str, str] = {
    "log_level": "logging.level",
    "models_dir": "models.dir",
    "stt_model": "stt.model",
    "stt_device": "stt.device",
    "stt_compute_type": "stt.compute_type",
    "stt_beam_size": "stt.beam_size",
    "language": "stt.language",
    "tts_voice": "tts.voice",
    "speaking_rate": "tts.speaking_rate",
    "llm_base_url": "llm.base_url",
    "llm_model": "llm.model",
    "llm_timeout": "llm.timeout_s",
    "vad_silence": "turn.vad_min_silence_s",
    "min_interruption": "turn.min_interruption_s",
    "aec_warmup": "turn.aec_warmup_s",
}


def add_speech_recognition_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("speech recognition")
    group.add_argument("--stt-model", help="Whisper catalog name (tiny.en, base ...) or path")
    group.add_argument("--stt-device", choices=["auto", "cpu", "cuda"])
    group.add_argument("--stt-compute-type", help="CTranslate2 compute type (int8, float16 ...)")
    group.add_argument("--stt-beam-size", type=int)
    group.add_argument("--language", help="spoken language code, e.g. en")


def add_conversation_flags(parser: argparse.ArgumentParser) -> None:
    tts = parser.add_argument_group("speech synthesis")
    tts.add_argument("--tts-voice", help="Piper voice name or path to its .onnx file")
    tts.add_argument("--speaking-rate", type=float, help="1.0 natural, 1.2 is 20%% faster")
    lm = parser.add_argument_group("language model (OpenAI-compatible)")
    lm.add_argument("--llm-base-url", help="default: Nebius AI Studio")
    lm.add_argument("--llm-model")
    lm.add_argument("--llm-timeout", type=float, help="seconds (default 15)")
    lm.add_argument(
        "--no-llm-check", action="store_true", help="skip the reachability check at start-up"
    )
    turn = parser.add_argument_group("turn taking")
    turn.add_argument("--vad-silence", type=float, help="silence that ends a turn, seconds")
    turn.add_argument("--min-interruption", type=float, help="speech that interrupts, seconds")
    turn.add_argument("--aec-warmup", type=float, help="seconds barge-in is ignored per reply")
    parser.add_argument(
        "--persona", help="persona or versioned session request: a JSON file or inline JSON"
    )


def build_parser() -> argparse.ArgumentParser:
    from .commands import (
        agent_cmd,
        bench_cmd,
        bench_load_cmd,
        config_cmd,
        converse,
        fetch_livekit_cmd,
        key_cmd,
        start_cmd,
        transcribe,
        up_cmd,
    )
    from .commands.doctor import add_doctor_parser
    from .commands.models import add_models_parser

    parser = argparse.ArgumentParser(
        prog="voice-sidecar", description="Local voice backend of private-assistant."
    )
    parser.add_argument("--version", action="version", version=f"voice-sidecar {__version__}")
    parser.add_argument(
        "--config",
        type=Path,
        help=f"settings file (default: the per-user one; also {CONFIG_FILE_VARIABLE})",
    )
    parser.add_argument("--log-level", help="debug, info, warning or error")
    parser.add_argument("--models-dir", help="folder of installed models")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="set any setting for this run, e.g. --set turn.vad_min_silence_s=0.4",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    converse.add_parser(commands)
    transcribe.add_parser(commands)
    config_cmd.add_parser(commands)
    key_cmd.add_parser(commands)
    add_models_parser(commands)
    add_doctor_parser(commands)
    agent_cmd.add_parser(commands)
    fetch_livekit_cmd.add_parser(commands)
    up_cmd.add_parser(commands)
    start_cmd.add_parser(commands)
    bench_cmd.add_parser(commands)
    bench_load_cmd.add_parser(commands)
    return parser


def command_line_overrides(args: argparse.Namespace) -> dict[str, Any]:
    overrides: dict[str, Any] = {}
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UserFacingError(f"--set needs KEY=VALUE, got {item!r}")
        overrides[key.strip()] = value
    for attr, dotted in FLAG_SETTINGS.items():
        value = getattr(args, attr, None)
        if value is not None:
            overrides[dotted] = value
    return overrides


def config_file_path(args: argparse.Namespace, environ: Mapping[str, str]) -> Path:
    if args.config is not None:
        return Path(args.config)
    if environ.get(CONFIG_FILE_VARIABLE):
        return Path(environ[CONFIG_FILE_VARIABLE])
    return default_config_file()


def configure_logging(
    options: LoggingSettings, redactor: Redactor, *, write_file: bool = True
) -> None:
    level = getattr(logging, options.level.upper())
    stderr = logging.StreamHandler(sys.stderr)
    stderr.setFormatter(
        JsonFormatter() if options.format == "json" else logging.Formatter(LOG_FORMAT)
    )
    logging.basicConfig(level=level, handlers=[stderr], force=True)
    if options.file and write_file:
        add_file_handler(Path(options.file), level=level)
    # the framework is chatty at info; keep it one level quieter than ours
    logging.getLogger("livekit").setLevel(max(level, logging.WARNING))
    install(redactor)


def main(argv: Sequence[str] | None = None) -> int:
    apply_process_defaults()
    from .commands.context import CommandContext
    from .secret_store import SecretStore
    from .settings_loader import LoadedSettings

    args = build_parser().parse_args(argv)
    environ = dict(os.environ)
    redactor = Redactor()
    for name in ("NEBIUS_API_KEY", "VOICE_SIDECAR_LLM_API_KEY"):
        redactor.add(environ.get(name))
    try:
        loaded: LoadedSettings = load_settings(
            config_file=config_file_path(args, environ),
            environ=environ,
            overrides=command_line_overrides(args),
        )
        configure_logging(
            loaded.settings.logging, redactor, write_file=environ.get(SUPERVISED_VARIABLE) != "1"
        )
        context = CommandContext(
            loaded=loaded, environ=environ, store=SecretStore(environ=environ), redactor=redactor
        )
        handler: Handler = args.handler
        return handler(args, context)
    except UserFacingError as exc:
        print(f"voice-sidecar: error: {redactor.redact(str(exc))}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # the reader went away (e.g. "| head"): not an error worth a traceback
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0


def run() -> NoReturn:
    """The program's entry point (console script, ``python -m``, frozen executable)."""
    # supervisor.spawner.KEEPER_COMMAND, spelled out: importing the supervisor costs time
    if sys.argv[1:2] == ["_keeper"]:  # the frozen executable in front of a service
        from .supervisor.keeper import main as keeper_main

        keeper_main(sys.argv[2:])
    try:
        code = main()
    except BaseException as error:
        if not native_runtime_started():
            raise
        code = _report_uncaught(error)
    end_process(code)


def _report_uncaught(error: BaseException) -> int:
    # what the interpreter would print and return, had it been allowed to finalize
    if isinstance(error, SystemExit):
        if error.code is None or isinstance(error.code, int):
            return error.code or 0
        print(error.code, file=sys.stderr)
        return 1
    if isinstance(error, KeyboardInterrupt):
        return 130
    sys.excepthook(type(error), error, error.__traceback__)
    return 1


if __name__ == "__main__":
    run()
