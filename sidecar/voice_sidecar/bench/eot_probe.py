"""What LiveKit's local audio end-of-turn model (``turn-detector-v1-mini``, inside
``livekit-local-inference``) says about real speech, without a conversation around it.

For each finished recording and each first half of a halting sentence, the model hears the
last 1.2 s up to ``silence_s`` after the speech ended, as LiveKit Agents feeds it when its VAD
reports the end of speech. A model that could gate a shorter silence would give the finished
turns high probabilities and the halves low ones. ``docs/benchmarks.md`` has the figures.

Run: ``python -m voice_sidecar.bench.eot_probe [FOLDER]`` (default: the fetched recordings).
"""

from __future__ import annotations

import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from voice_sidecar.audio_files import SPEECH_SAMPLE_RATE, FloatAudio
from voice_sidecar.converse.speech_span import find_speech_span

from . import real_speech

UNLIKELY_THRESHOLD_EN = 0.36
"""LiveKit Agents 1.8.9's English threshold for the mini model (``eot/languages.py``): below
it the framework treats the turn as unfinished and waits up to ``max_endpointing_delay``."""


@dataclass(frozen=True)
class Probe:
    name: str
    finished: bool
    silence_s: float
    probability: float
    seconds: float


def _heard_until(audio: FloatAudio, silence_s: float) -> FloatAudio:
    rate = SPEECH_SAMPLE_RATE
    speech = audio[: int(find_speech_span(audio, rate).end_s * rate)]
    padded = np.concatenate([speech, np.zeros(int(silence_s * rate), dtype=np.float32)])
    return padded[-int(1.2 * rate) :]


def probe(folder: Path, silences_s: tuple[float, ...] = (0.2, 0.35, 0.55)) -> list[Probe]:
    from livekit.local_inference import EOT

    turns = [(r.name, True, real_speech.load(folder, r.name)) for r in real_speech.RECORDINGS]
    turns += [
        (
            f"{c.recording} (first half)",
            False,
            real_speech.split(real_speech.load(folder, c.recording), c.cut_s)[0],
        )
        for c in real_speech.HALTING_CUTS
    ]
    model = EOT()
    probes = []
    try:
        for silence in silences_s:
            for name, finished, audio in turns:
                pcm = (np.clip(_heard_until(audio, silence), -1.0, 1.0) * 32767).astype(np.int16)
                started = time.perf_counter()
                probability = float(model.predict(pcm))
                probes.append(
                    Probe(name, finished, silence, probability, time.perf_counter() - started)
                )
    finally:
        model.close()
    return probes


def summary_lines(probes: list[Probe]) -> list[str]:
    lines = [
        "| silence after speech | finished turns: P(end) median (min-max) | judged unfinished "
        "| halves: P(end) median (min-max) | judged finished | prediction ms |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for silence in sorted({p.silence_s for p in probes}):
        at = [p for p in probes if p.silence_s == silence]
        done = [p.probability for p in at if p.finished]
        halves = [p.probability for p in at if not p.finished]
        wrong_done = sum(v < UNLIKELY_THRESHOLD_EN for v in done)
        wrong_half = sum(v >= UNLIKELY_THRESHOLD_EN for v in halves)
        lines.append(
            f"| {silence:.2f} s | {statistics.median(done):.2f} ({min(done):.2f}-{max(done):.2f}) "
            f"| {wrong_done} of {len(done)} "
            f"| {statistics.median(halves):.2f} ({min(halves):.2f}-{max(halves):.2f}) "
            f"| {wrong_half} of {len(halves)} "
            f"| {1000 * statistics.median(p.seconds for p in at):.0f} |"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    import os

    from voice_sidecar.paths import default_cache_dir

    args = sys.argv[1:] if argv is None else argv
    folder = Path(args[0]) if args else real_speech.located(os.environ, default_cache_dir())
    if folder is None:
        print(
            "error: no recordings of real speech: run scripts/fetch-real-speech.sh", file=sys.stderr
        )
        return 2
    print("\n".join(summary_lines(probe(folder))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
