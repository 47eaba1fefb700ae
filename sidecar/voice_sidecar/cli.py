"""``voice-sidecar``: the single entry point that builds the settings and runs a command."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from . import __version__
from .errors import PersonaError, UserFacingError
from .persona import Persona, SessionRequest, parse_persona, parse_session_request
from .runtime_env import apply_process_defaults
from .settings import LlmSettings, ModelSettings, Settings, SttSettings, TtsSettings, TurnSettings


def _add_model_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("speech recognition")
    group.add_argument("--stt-model", help="Whisper catalog name (tiny.en, base ...) or path")
    group.add_argument("--stt-device", choices=["auto", "cpu", "cuda"])
    group.add_argument("--stt-compute-type", help="CTranslate2 compute type (int8, float16 ...)")
    group.add_argument("--stt-beam-size", type=int)
    group.add_argument("--language", help="spoken language code, e.g. en")


def _add_conversation_options(parser: argparse.ArgumentParser) -> None:
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
        "--persona",
        help="persona or versioned session request: a JSON file or inline JSON",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="voice-sidecar", description="Local voice backend of private-assistant."
    )
    parser.add_argument("--version", action="version", version=f"voice-sidecar {__version__}")
    parser.add_argument("--log-level", default="warning", help="debug, info, warning, error")
    parser.add_argument("--models-dir", type=Path, help="directory of installed models")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    converse = commands.add_parser(
        "converse",
        help="talk to the assistant with audio files, one user turn per file",
        description="Run the voice agent without a room: each input file is one user turn, "
        "sent in real time; the agent's audio is played in real time and recorded.",
    )
    converse.add_argument("inputs", nargs="+", type=Path, metavar="IN.wav")
    converse.add_argument("--out", type=Path, metavar="OUT.wav", help="write the agent's audio")
    converse.add_argument("--json", action="store_true", help="print machine-readable results")
    converse.add_argument(
        "--barge-in-after",
        type=float,
        metavar="SECONDS",
        help="start each turn after the first this far into the agent's reply (interrupting it)",
    )
    converse.add_argument(
        "--noise-dbfs", type=float, help="add a noise floor at this level, e.g. -50"
    )
    _add_model_options(converse)
    _add_conversation_options(converse)

    transcribe = commands.add_parser(
        "transcribe", help="speech recognition alone, to check a recording or a model"
    )
    transcribe.add_argument("inputs", nargs="+", type=Path, metavar="FILE.wav")
    transcribe.add_argument("--json", action="store_true")
    _add_model_options(transcribe)
    return parser


def _given(args: argparse.Namespace, mapping: Mapping[str, str]) -> dict[str, Any]:
    return {
        field: getattr(args, attr)
        for attr, field in mapping.items()
        if getattr(args, attr, None) is not None
    }


def _load_request(raw: str, defaults: Persona) -> SessionRequest:
    text = raw
    if not raw.lstrip().startswith("{"):
        path = Path(raw)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise PersonaError(f"cannot read persona file {path}: {exc.strerror or exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PersonaError(f"persona is not valid JSON: {exc}") from None
    if isinstance(data, dict) and "version" in data:
        return parse_session_request(data, defaults=defaults)
    return SessionRequest(persona=parse_persona(data, defaults=defaults))


def _api_key_for(llm: LlmSettings, environ: Mapping[str, str]) -> str | None:
    """The Nebius key goes to Nebius only; another endpoint gets its own key, if any."""
    name = "NEBIUS_API_KEY" if llm.is_nebius else "VOICE_SIDECAR_LLM_API_KEY"
    return environ.get(name) or None


def build_settings(
    args: argparse.Namespace, environ: Mapping[str, str]
) -> tuple[Settings, SessionRequest]:
    try:
        stt = replace(
            SttSettings(),
            **_given(
                args,
                {
                    "stt_model": "model",
                    "stt_device": "device",
                    "stt_compute_type": "compute_type",
                    "stt_beam_size": "beam_size",
                    "language": "language",
                },
            ),
        )
        tts = replace(
            TtsSettings(), **_given(args, {"tts_voice": "voice", "speaking_rate": "speaking_rate"})
        )
        llm = replace(
            LlmSettings(),
            **_given(
                args,
                {"llm_base_url": "base_url", "llm_model": "model", "llm_timeout": "timeout_s"},
            ),
        )
        turn = replace(
            TurnSettings(),
            **_given(
                args,
                {
                    "vad_silence": "vad_min_silence_s",
                    "min_interruption": "min_interruption_s",
                    "aec_warmup": "aec_warmup_s",
                },
            ),
        )
    except ValueError as exc:
        raise UserFacingError(f"invalid option: {exc}") from None
    llm = replace(llm, api_key=_api_key_for(llm, environ))
    persona = Persona(language=stt.language or "en", voice=None)
    request = (
        _load_request(args.persona, persona)
        if getattr(args, "persona", None)
        else SessionRequest(persona=persona)
    )
    models_dir = args.models_dir or (
        Path(environ["VOICE_SIDECAR_MODELS_DIR"])
        if environ.get("VOICE_SIDECAR_MODELS_DIR")
        else None
    )
    settings = Settings(
        stt=stt,
        tts=tts,
        llm=llm,
        turn=turn,
        persona=request.persona,
        models=ModelSettings(dir=str(models_dir) if models_dir else None),
    )
    return settings, request


def _configure_logging(level_name: str) -> None:
    level = getattr(logging, level_name.upper(), None)
    if not isinstance(level, int):
        raise UserFacingError(
            f"--log-level must be debug, info, warning or error, not {level_name!r}"
        )
    logging.basicConfig(
        level=level, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # the framework is chatty at info; keep it one level quieter than ours
    logging.getLogger("livekit").setLevel(max(level, logging.WARNING))


def main(argv: Sequence[str] | None = None) -> int:
    apply_process_defaults()
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        _configure_logging(args.log_level)
        settings, request = build_settings(args, os.environ)
        if args.command == "converse":
            from .commands.converse import run_converse

            return run_converse(args, settings, request)
        if args.command == "transcribe":
            from .commands.transcribe import run_transcribe

            return run_transcribe(args, settings)
        parser.error(f"unknown command {args.command}")
    except UserFacingError as exc:
        print(f"voice-sidecar: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
