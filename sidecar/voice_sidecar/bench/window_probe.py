"""What a shorter Whisper encoder window (``stt.window_s``) costs in words and buys in time.

Every clip is transcribed as the speculative run hears it (the speech, then the segment
silence), once per window, the windows taking turns so that all see the same load:
- the 10 real recordings (``real_speech``), scored against the package's transcriptions;
- the first halves of the 5 halting sentences (what the speculative run sees at a pause);
- two long turns, three and five recordings back to back (12 s and 21 s, beyond the window);
- the 9 coughs, laughs and hums (``vocal_sounds``), when fetched: no words expected.

Per window: word errors, words that differ from the 30 s window's text, how many clips the
short window's checks sent back to 30 s, and the wall time per run on the engine's thread. A
sound's text may differ between two runs of the 30 s window itself: faster-whisper retries a
clip that unsure at higher temperatures, which sample.
``docs/benchmarks.md`` ("Issue 14: Whisper on a 12 s window") has the figures.

Run: ``python -m voice_sidecar.bench.window_probe [--windows 30,12,8] [--rounds 3]
[--model NAME|DIR]``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from voice_sidecar.audio_files import FloatAudio

from . import real_speech, vocal_sounds
from .beam_probe import (
    add_probe_arguments,
    as_heard,
    chosen_model,
    load_average,
    speech_folder,
    word_errors,
    words,
)


@dataclass(frozen=True)
class Clip:
    name: str
    audio: FloatAudio
    reference: str | None
    """The package's transcription; ``None`` where there is none (halves, sounds)."""


@dataclass
class WindowFigures:
    window_s: float
    wall_s: list[float] = field(default_factory=list)
    errors: int = 0
    reference_words: int = 0
    differing_words: int = 0
    fell_back: int = 0
    texts: dict[str, str] = field(default_factory=dict)


LONG_TURNS = (
    ("austen-0880", "austen-0890", "austen-0920"),
    ("austen-0870", "austen-0880", "austen-0890", "austen-0920", "austen-0930"),
)


def clips(speech: Path, sounds: Path | None) -> list[Clip]:
    found = [
        Clip(r.name, as_heard(real_speech.load(speech, r.name)), r.text)
        for r in real_speech.RECORDINGS
    ]
    for cut in real_speech.HALTING_CUTS:
        first, _ = real_speech.split(real_speech.load(speech, cut.recording), cut.cut_s)
        found.append(Clip(f"{cut.recording} (first half)", as_heard(first), None))
    for names in LONG_TURNS:
        audio = np.concatenate([as_heard(real_speech.load(speech, n), 0.3) for n in names])
        text = " ".join(real_speech.by_name(n).text for n in names)
        found.append(Clip(" + ".join(names), as_heard(audio), text))
    if sounds is not None:
        found += [
            Clip(s.name, as_heard(vocal_sounds.load(sounds, s.name)), None)
            for s in vocal_sounds.SOUNDS
        ]
    return found


def probe(
    model_dir: Path, turns: list[Clip], windows: Sequence[float], beam: int, rounds: int
) -> dict[float, WindowFigures]:
    from voice_sidecar.plugins.whisper import WhisperEngine

    engine = WhisperEngine.load(model_dir, name=model_dir.name, device="cpu", compute_type="int8")
    with ThreadPoolExecutor(max_workers=1) as thread:
        return thread.submit(_probe, engine, turns, windows, beam, rounds).result()


def _probe(
    engine: Any, turns: list[Clip], windows: Sequence[float], beam: int, rounds: int
) -> dict[float, WindowFigures]:
    for window in windows:
        engine.warm_up(beam, window)
    figures = {w: WindowFigures(w) for w in windows}
    for round_number in range(rounds):
        for clip in turns:
            for window in windows:
                started = time.perf_counter()
                t = engine.transcribe(clip.audio, language="en", beam_size=beam, window_s=window)
                mine = figures[window]
                mine.wall_s.append(time.perf_counter() - started)
                if round_number == 0:
                    mine.texts[clip.name] = t.text
                    mine.fell_back += window < 30 and t.window_s >= 30
                    if clip.reference is not None:
                        reference = words(clip.reference)
                        mine.errors += word_errors(reference, words(t.text))
                        mine.reference_words += len(reference)
    full = figures.get(30.0)
    if full is not None:
        for mine in figures.values():
            mine.differing_words = sum(
                word_errors(words(full.texts[name]), words(text))
                for name, text in mine.texts.items()
            )
    engine.close()
    return figures


def render(figures: dict[float, WindowFigures], clip_count: int, rounds: int) -> str:
    lines = [
        "| window | word errors (scored clips) | words differing from 30 s (all clips) | "
        "redone on 30 s | wall per run, median (p90) | runs |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for window, f in figures.items():
        walls = sorted(f.wall_s)
        p90 = walls[min(len(walls) - 1, round(0.9 * (len(walls) - 1)))]
        lines.append(
            f"| {window:g} s | {f.errors} of {f.reference_words} | {f.differing_words} | "
            f"{f.fell_back} of {clip_count} | {statistics.median(walls):.3f} s ({p90:.3f}) | "
            f"{len(walls)} ({rounds} rounds) |"
        )
    full = figures.get(30.0)
    for window, f in figures.items():
        if full is None or f is full:
            continue
        for name, text in f.texts.items():
            if words(text) != words(full.texts[name]):
                lines.append(f"- {window:g} s, {name}: {text!r} (30 s: {full.texts[name]!r})")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    from voice_sidecar.paths import default_cache_dir

    parser = argparse.ArgumentParser(prog="python -m voice_sidecar.bench.window_probe")
    parser.add_argument("--windows", default="30,12,8")
    parser.add_argument("--beam", type=int, default=2)
    add_probe_arguments(parser)
    args = parser.parse_args(argv)
    model = chosen_model(args)
    speech = speech_folder(args)
    sounds = vocal_sounds.beside(speech) or vocal_sounds.ensure(default_cache_dir(), print)
    turns = clips(speech, sounds)
    windows = [float(w) for w in args.windows.split(",") if w]
    before = load_average()
    figures = probe(model, turns, windows, args.beam, args.rounds)
    after = load_average()
    print(render(figures, len(turns), args.rounds))
    print(f"beam {args.beam}; load average before {before}, after {after}")


if __name__ == "__main__":
    main()
