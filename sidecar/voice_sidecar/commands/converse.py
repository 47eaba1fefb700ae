"""``voice-sidecar converse``: a room-less conversation over audio files."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from voice_sidecar.errors import AudioFileError, PersonaError
from voice_sidecar.log import logger
from voice_sidecar.persona import (
    Persona,
    SessionRequest,
    parse_persona,
    parse_session_request,
)
from voice_sidecar.settings import PersonaSettings, Settings
from voice_sidecar.settings_loader import with_value

if TYPE_CHECKING:
    from voice_sidecar.converse.runner import ConversationResult, TurnResult
    from voice_sidecar.runtime import SpeechRuntime

from .common import model_paths
from .context import CommandContext


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from voice_sidecar.cli import add_conversation_flags, add_speech_recognition_flags

    parser = commands.add_parser(
        "converse",
        help="talk to the assistant with audio files, one user turn per file",
        description="Run the voice agent without a room: each input file is one user turn, "
        "sent in real time; the agent's audio is played in real time and recorded.",
    )
    parser.add_argument("inputs", nargs="+", type=Path, metavar="IN.wav")
    parser.add_argument("--out", type=Path, metavar="OUT.wav", help="write the agent's audio")
    parser.add_argument("--json", action="store_true", help="print machine-readable results")
    parser.add_argument(
        "--barge-in-after",
        type=float,
        metavar="SECONDS",
        help="start each turn after the first this far into the agent's reply (interrupting it)",
    )
    parser.add_argument(
        "--noise-dbfs", type=float, help="add a noise floor at this level, e.g. -50"
    )
    add_speech_recognition_flags(parser)
    add_conversation_flags(parser)
    parser.set_defaults(handler=run_converse)


def default_persona(settings: PersonaSettings) -> Persona:
    return Persona(
        name=settings.name,
        instructions=settings.instructions,
        voice=settings.voice,
        language=settings.language,
    )


def load_session_request(raw: str | None, defaults: Persona) -> SessionRequest:
    """``--persona``: a file or inline JSON, either a bare persona or a versioned request."""
    if raw is None:
        return SessionRequest(persona=defaults)
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


def run_converse(args: argparse.Namespace, context: CommandContext) -> int:
    # heavy imports (LiveKit, models) only for the command that needs them
    from voice_sidecar.audio_files import (
        check_not_silent,
        check_output_file,
        read_speech,
        write_wav,
    )
    from voice_sidecar.converse.runner import ConverseOptions, Utterance, run_conversation
    from voice_sidecar.llm_client import check_llm_reachable
    from voice_sidecar.models.progress_render import TerminalProgressBar
    from voice_sidecar.runtime import SpeechRuntime

    request = load_session_request(args.persona, default_persona(context.settings.persona))
    # every input and the output are checked before anything loads: a problem is one line
    # now, not a traceback after the whole conversation
    utterances = [
        Utterance(name=str(path), samples=check_not_silent(read_speech(path), path))
        for path in args.inputs
    ]
    if args.out:
        check_output_file(args.out)
    settings = context.resolve_llm_key()
    if settings.llm.missing_api_key:
        logger.warning(
            "no Nebius API key: the assistant will say that it needs one "
            "(store it with 'voice-sidecar key set' or set NEBIUS_API_KEY)"
        )
    elif not args.no_llm_check:
        model = asyncio.run(check_llm_reachable(settings.llm, model_given=context.llm_model_given))
        if model != settings.llm.model:
            logger.warning("the LLM serves one model, %r: using it (--llm-model to choose)", model)
            settings = with_value(settings, "llm.model", model)
    started = time.perf_counter()
    runtime = SpeechRuntime.load(
        settings, model_paths(settings), progress=TerminalProgressBar(sys.stderr)
    )
    finished: dict[int, dict[str, Any]] = {}

    def on_turn(index: int, turn: TurnResult) -> None:
        finished[index] = turn_report(turn)
        if not args.json:  # each turn as it completes; --json prints one document at the end
            print_turn(index + 1, finished[index])
            sys.stdout.flush()

    try:
        runtime.warm_up()
        ready_s = time.perf_counter() - started
        options = ConverseOptions(barge_in_after_s=args.barge_in_after, noise_dbfs=args.noise_dbfs)
        if not args.json:
            print_header(runtime, settings)
        try:
            result = asyncio.run(
                run_conversation(runtime, settings, request, utterances, options, on_turn)
            )
        except KeyboardInterrupt:
            # Ctrl+C: what was finished is kept and shown; nothing is written to --out
            turns = [finished[i] for i in sorted(finished)]
            if args.json:
                json.dump({"turns": turns, "stopped": "interrupted"}, sys.stdout, indent=2)
                sys.stdout.write("\n")
            print(
                f"voice-sidecar: stopped after {len(turns)} of {len(utterances)} turns"
                + (f"; {args.out} was not written" if args.out else ""),
                file=sys.stderr,
            )
            return 130
    finally:
        runtime.close()
    report = build_report(
        result, settings, runtime, ready_s, context.llm_key.source if context.llm_key else "missing"
    )
    if args.json:
        json.dump(report, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        for index, turn in enumerate(report["turns"]):
            if index not in finished:  # a turn the run ended before reporting
                print_turn(index + 1, turn)
        for error in report["errors"]:
            print(f"\nsession error: {error}")
    if args.out:
        try:
            write_wav(args.out, result.audio, sample_rate=result.sample_rate)
        except OSError as exc:  # checked at the start; the folder may have gone since
            raise AudioFileError(
                f"cannot write {args.out} ({exc.strerror or exc}); the transcript above is complete"
            ) from None
    return 0


def _wait(turn: TurnResult) -> float | None:
    if turn.stt_delay_s is None or turn.stt_inference_s is None:
        return None
    return max(turn.stt_delay_s - turn.stt_inference_s, 0.0)


def _round(value: float | None) -> float | None:
    return None if value is None else round(float(value), 3)


def turn_report(turn: TurnResult) -> dict[str, Any]:
    return {
        "input": turn.input,
        "user_transcript": turn.user_transcript,
        "agent_text": turn.agent_text,
        "interrupted": turn.interrupted,
        "first_audio_latency_s": _round(turn.first_audio_latency_s),
        # each part on its own, as bench reports them: the framework's transcription delay
        # (end of speech to final transcript) holds both the end-of-turn wait and Whisper
        "breakdown": {
            "end_of_turn_wait_s": _round(_wait(turn)),
            "stt_inference_s": _round(turn.stt_inference_s),
            "llm_ttft_s": _round(turn.llm_ttft_s),
            "llm_first_sentence_s": _round(turn.llm_first_sentence_s),
            "tts_ttfb_s": _round(turn.tts_ttfb_s),
        },
        "barge_in_reaction_s": _round(turn.barge_in_reaction_s),
        "agent_audio_s": _round(turn.agent_audio_s),
        "speech_start_s": _round(turn.speech_start_s),
        "speech_end_s": _round(turn.speech_end_s),
    }


def build_report(
    result: ConversationResult,
    settings: Settings,
    runtime: SpeechRuntime,
    ready_s: float,
    key_source: str,
) -> dict[str, Any]:
    from voice_sidecar.llm_client import endpoint_label

    choice = runtime.whisper.device_choice
    return {
        "turns": [turn_report(turn) for turn in result.turns],
        "stt": {
            "model": runtime.whisper.name,
            "device": choice.device,
            "compute_type": choice.compute_type,
        },
        "tts": {"voice": runtime.voice().name, "sample_rate": result.sample_rate},
        "llm": {
            "endpoint": endpoint_label(settings.llm.base_url),
            "model": settings.llm.model,
            "key_source": key_source,
        },
        "startup_s": _round(ready_s),
        "errors": result.errors,
    }


def _fmt(value: object) -> str:
    return "-" if value is None else f"{value:.2f}s" if isinstance(value, float) else str(value)


def print_header(runtime: SpeechRuntime, settings: Settings) -> None:
    from voice_sidecar.llm_client import endpoint_label

    choice = runtime.whisper.device_choice
    print(
        f"STT {runtime.whisper.name} ({choice.device}/{choice.compute_type}), "
        f"TTS {runtime.voice().name}, LLM {settings.llm.model} at "
        f"{endpoint_label(settings.llm.base_url)}"
    )


def print_turn(number: int, turn: dict[str, Any]) -> None:
    print(f"\n[{number}] user:  {turn['user_transcript'] or '(nothing recognised)'}")
    marker = " [interrupted]" if turn["interrupted"] else ""
    print(f"    agent: {turn['agent_text'] or '(no reply)'}{marker}")
    b = turn["breakdown"]
    print(
        f"    first audio {_fmt(turn['first_audio_latency_s'])} after speech end "
        f"(end-of-turn wait {_fmt(b['end_of_turn_wait_s'])}, Whisper "
        f"{_fmt(b['stt_inference_s'])}, LLM first token {_fmt(b['llm_ttft_s'])}, first "
        f"sentence {_fmt(b['llm_first_sentence_s'])}, TTS first byte {_fmt(b['tts_ttfb_s'])})"
    )
    if turn["barge_in_reaction_s"] is not None:
        print(f"    barge-in silenced the agent after {_fmt(turn['barge_in_reaction_s'])}")
