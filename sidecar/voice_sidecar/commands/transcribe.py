"""``voice-sidecar transcribe``: Whisper alone, for checking a recording or a model."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from voice_sidecar.audio_files import read_speech
from voice_sidecar.models.progress_render import TerminalProgressBar
from voice_sidecar.settings import Settings

from .common import model_paths
from .context import CommandContext


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from voice_sidecar.cli import add_speech_recognition_flags

    parser = commands.add_parser(
        "transcribe", help="speech recognition alone, to check a recording or a model"
    )
    parser.add_argument("inputs", nargs="+", type=Path, metavar="FILE.wav")
    parser.add_argument("--json", action="store_true")
    add_speech_recognition_flags(parser)
    parser.set_defaults(handler=run_transcribe)


def run_transcribe(args: argparse.Namespace, context: CommandContext) -> int:
    # livekit.agents takes seconds to import: only the commands that run models pay for it
    from voice_sidecar.runtime import load_whisper, model_provider

    settings: Settings = context.settings
    # read every file first: a bad file fails fast, before the model loads
    audio = [(path, read_speech(path)) for path in args.inputs]
    provider = model_provider(
        settings, model_paths(settings), progress=TerminalProgressBar(sys.stderr)
    )
    engine, _ = load_whisper(settings, provider)
    try:
        results = []
        for path, samples in audio:
            transcript = engine.transcribe(
                samples,
                language=settings.stt.language,
                beam_size=settings.stt.beam_size,
                window_s=settings.stt.window_s,
            )
            results.append(
                {
                    "file": str(path),
                    "text": transcript.text,
                    "seconds": round(transcript.inference_seconds, 3),
                    "audio_seconds": round(transcript.audio_seconds, 3),
                    "language": transcript.language,
                }
            )
    finally:
        engine.close()
    choice = engine.device_choice
    if args.json:
        json.dump(results, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    print(f"model {engine.name} on {choice.device}/{choice.compute_type} ({choice.reason})")
    for item in results:
        print(f"{item['file']} ({item['seconds']:.2f}s for {item['audio_seconds']:.1f}s of audio)")
        print(f"  {item['text']}")
    return 0
