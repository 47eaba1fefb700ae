"""What Whisper's beam size costs and buys on real speech, without a conversation around it.

Each real recording (``bench/real_speech.py``) is transcribed as the speculative run sees it:
the speech up to its last loud 20 ms plus ``turn.stt_segment_silence_s`` of silence. The beam
sizes take turns (1, 5, 1, 5, ...), so both see the same machine load. Per beam: word errors
against the package's transcriptions, the wall time of each run on the engine's thread, and
the process's CPU seconds per run (every thread: CTranslate2's own workers included; nothing
else runs in this process meanwhile). ``docs/benchmarks.md`` has the figures.

Run: ``python -m voice_sidecar.bench.beam_probe [--beams 1,5] [--rounds 3] [--model NAME|DIR]``.
"""

from __future__ import annotations

import argparse
import re
import statistics
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from voice_sidecar.audio_files import SPEECH_SAMPLE_RATE, FloatAudio
from voice_sidecar.converse.speech_span import find_speech_span

from . import real_speech

SEGMENT_SILENCE_S = 0.25
"""``turn.stt_segment_silence_s``'s default: the silence the speculative run has heard."""

_NUMBERS = {
    "0": "zero",
    "1": "one",
    "2": "two",
    "3": "three",
    "4": "four",
    "5": "five",
    "6": "six",
    "7": "seven",
    "8": "eight",
    "9": "nine",
    "10": "ten",
    "mr": "mister",
}


def words(text: str) -> list[str]:
    """Lower case, no punctuation, hyphenated words split, digits and "Mr." spelled out: how
    the package's transcriptions are written."""
    cleaned = re.sub(r"[^a-z0-9' ]+", " ", text.lower().replace("-", " "))
    return [_NUMBERS.get(w, w) for w in cleaned.split()]


def word_errors(reference: Sequence[str], heard: Sequence[str]) -> int:
    """Substitutions, insertions and deletions (Levenshtein distance over words)."""
    previous = list(range(len(heard) + 1))
    for i, ref in enumerate(reference, 1):
        current = [i]
        for j, hyp in enumerate(heard, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ref != hyp)))
        previous = current
    return previous[-1]


def as_heard(audio: FloatAudio, silence_s: float = SEGMENT_SILENCE_S) -> FloatAudio:
    """The recording up to its speech's end, then ``silence_s`` of silence."""
    rate = SPEECH_SAMPLE_RATE
    speech = audio[: int(find_speech_span(audio, rate).end_s * rate)]
    return np.concatenate([speech, np.zeros(int(silence_s * rate), dtype=np.float32)])


@dataclass
class BeamFigures:
    beam: int
    wall_s: list[float] = field(default_factory=list)
    cpu_s: list[float] = field(default_factory=list)
    errors: int = 0
    reference_words: int = 0
    texts: dict[str, str] = field(default_factory=dict)

    @property
    def wer(self) -> float:
        return self.errors / self.reference_words if self.reference_words else 0.0


def probe(
    model_dir: Path, folder: Path, beams: Sequence[int], rounds: int
) -> dict[int, BeamFigures]:
    from voice_sidecar.plugins.whisper import WhisperEngine

    engine = WhisperEngine.load(model_dir, name=model_dir.name, device="cpu", compute_type="int8")
    with ThreadPoolExecutor(max_workers=1) as thread:  # as the engine runs: on a thread of its own
        return thread.submit(_probe, engine, folder, beams, rounds).result()


def _probe(engine: Any, folder: Path, beams: Sequence[int], rounds: int) -> dict[int, BeamFigures]:
    engine.warm_up()
    turns = [(r, as_heard(real_speech.load(folder, r.name))) for r in real_speech.RECORDINGS]
    figures = {beam: BeamFigures(beam) for beam in beams}
    for round_number in range(rounds):
        for beam in beams:
            mine = figures[beam]
            for recording, audio in turns:
                cpu, wall = time.process_time(), time.perf_counter()
                text = engine.transcribe(audio, language="en", beam_size=beam).text
                mine.wall_s.append(time.perf_counter() - wall)
                mine.cpu_s.append(time.process_time() - cpu)
                if round_number == 0:  # the text does not change between rounds
                    reference = words(recording.text)
                    mine.errors += word_errors(reference, words(text))
                    mine.reference_words += len(reference)
                    mine.texts[recording.name] = text
    engine.close()
    return figures


def render(figures: dict[int, BeamFigures], rounds: int) -> str:
    lines = [
        "| beam | word errors | WER | wall per run, median (p90) | CPU s per run, median | runs |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for beam, f in figures.items():
        walls = sorted(f.wall_s)
        p90 = walls[min(len(walls) - 1, round(0.9 * (len(walls) - 1)))]
        lines.append(
            f"| {beam} | {f.errors} of {f.reference_words} | {100 * f.wer:.1f} % | "
            f"{statistics.median(walls):.3f} s ({p90:.3f}) | {statistics.median(f.cpu_s):.3f} | "
            f"{len(walls)} ({rounds} rounds) |"
        )
    first = next(iter(figures.values()))
    for name in first.texts:
        heard = " / ".join(f"{beam}: {f.texts[name]!r}" for beam, f in figures.items())
        lines.append(f"- {name}: {heard}")
    return "\n".join(lines)


def add_probe_arguments(parser: argparse.ArgumentParser) -> None:
    """The options every Whisper probe takes: rounds, the model and the real speech folder."""
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--model", default="tiny.en", help="an installed Whisper model's name, or its folder"
    )
    parser.add_argument("--speech", type=Path, help="the real speech folder (default: fetched)")


def chosen_model(args: argparse.Namespace) -> Path:
    """``--model`` as a folder: itself, or the installed package of that name."""
    return Path(args.model) if Path(args.model).is_dir() else _packaged(args.model)


def speech_folder(args: argparse.Namespace) -> Path:
    """``--speech``, or the real recordings, fetched once into the user's cache."""
    from voice_sidecar.paths import default_cache_dir

    return args.speech or real_speech.ensure(default_cache_dir(), print)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m voice_sidecar.bench.beam_probe")
    parser.add_argument("--beams", default="1,5")
    add_probe_arguments(parser)
    args = parser.parse_args(argv)
    model = chosen_model(args)
    folder = speech_folder(args)
    beams = [int(b) for b in args.beams.split(",") if b]
    before = load_average()
    figures = probe(model, folder, beams, args.rounds)
    after = load_average()
    print(render(figures, args.rounds))
    print(f"load average before {before}, after {after}")


def load_average() -> str:
    loadavg = Path("/proc/loadavg")
    return " ".join(loadavg.read_text(encoding="ascii").split()[:3]) if loadavg.exists() else "-"


def _packaged(name: str) -> Path:
    from voice_sidecar.models.packaged import find_packaged_whisper
    from voice_sidecar.paths import default_cache_dir

    found = find_packaged_whisper(name, default_cache_dir())
    if found is None:
        raise SystemExit(f"no Whisper model {name!r} installed as a package: pass --model DIR")
    return found


if __name__ == "__main__":
    main()
