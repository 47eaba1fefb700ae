"""``voice-sidecar bench``: latency figures of the real pipeline on this machine."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

from .context import CommandContext


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "bench",
        help="measure end of speech to first agent audio, barge-in and cut-offs on this machine",
    )
    parser.add_argument("--repetitions", type=int, default=2)
    parser.add_argument("--first-token-ms", type=float, default=50.0, help="local LLM stand-in")
    parser.add_argument("--token-ms", type=float, default=20.0, help="time between tokens")
    parser.add_argument("--only", action="append", default=[], help="scenario name filter")
    parser.add_argument(
        "--speech",
        choices=("both", "real", "synthetic"),
        default="both",
        help="recordings of real people (fetched once: docs/licences.md), Piper's voice, or both",
    )
    parser.add_argument("--stt-rtf-models", default="tiny.en,base")
    parser.add_argument("--json", type=Path, help="write all figures and raw turns here")
    parser.add_argument("--plot", type=Path, help="write the latency breakdown as a PNG")
    parser.add_argument(
        "--room",
        action="store_true",
        help="also run the scenarios through a real LiveKit room (starts its own `up`, "
        "with livekit-server found as `up` finds it) and print both",
    )
    parser.add_argument("--stt-model")
    parser.add_argument("--vad-silence", type=float)
    parser.set_defaults(handler=run_bench_command)


def run_bench_command(args: argparse.Namespace, context: CommandContext) -> int:
    from voice_sidecar.bench.measure import BenchOptions, figures, run_bench
    from voice_sidecar.bench.report import plot, table

    from .common import model_paths

    settings = context.settings
    options = BenchOptions(
        repetitions=args.repetitions,
        first_token_delay_s=args.first_token_ms / 1000,
        token_interval_s=args.token_ms / 1000,
        stt_models=tuple(m for m in args.stt_rtf_models.split(",") if m),
        only=tuple(args.only),
        speech=("synthetic", "real") if args.speech == "both" else (args.speech,),
    )
    result = run_bench(
        settings, model_paths(settings), options, lambda line: print(line, file=sys.stderr)
    )
    numbers = figures(result)
    print(table(numbers))
    payload: dict[str, Any] = {
        "figures": numbers,
        "settings": result.settings,
        "turns": [asdict(t) for t in result.turns],
    }
    if args.room:
        from voice_sidecar.bench.report import room_table
        from voice_sidecar.bench.room_run import run_room_bench

        room = run_room_bench(
            settings,
            result.scenarios,
            options,
            lambda line: print(line, file=sys.stderr),
            environ=dict(context.environ),
        )
        room_numbers = figures(room)
        print(room_table(room_numbers, numbers))
        payload["room"] = {
            "figures": room_numbers,
            "turns": [asdict(t) for t in room.turns],
        }
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(payload, indent=2, default=str) + "\n", encoding="utf-8")
    if args.plot:
        plot(numbers, args.plot)
    return 0
