"""Recordings of real people speaking, for the benchmark and the tests.

They come from the test data of one package on the Python package index, the source
distribution of ``pocketsphinx`` (CMU Sphinx), fetched by pip itself (hash-checked) and cached
outside the repository; ``docs/licences.md`` ("Recordings of real speech") gives each one's
provenance and licence. Each file taken from it is checked against its own SHA-256 too, and
written as a 16 kHz mono 16-bit WAV (the raw ones get a header), so any tool can read them.
"""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
import tarfile
import tempfile
import wave
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from voice_sidecar.audio_files import SPEECH_SAMPLE_RATE, FloatAudio, read_speech
from voice_sidecar.errors import UserFacingError
from voice_sidecar.settings_loader import REAL_SPEECH_VARIABLE

SDIST = "pocketsphinx==5.1.1"
SDIST_FILE = "pocketsphinx-5.1.1.tar.gz"
SDIST_SHA256 = "675778b309a22dfc9b7d37f7621976bba491d2a5f8c59696bd77fd6d07271355"
FOLDER_NAME = "pocketsphinx-5.1.1"
LOCATION_VARIABLE = REAL_SPEECH_VARIABLE
"""A folder that already holds the recordings (CI sets it from scripts/fetch-real-speech.sh)."""

LIBRIVOX = "LibriVox reader, Sense and Sensibility ch. 1 (public domain)"
CMU = "CMU Sphinx test speaker (BSD-2-Clause, pocketsphinx)"


@dataclass(frozen=True)
class Recording:
    name: str
    member: str
    """Path inside the source distribution."""
    sha256: str
    text: str
    """What is said (the package's own transcription, or what a listener hears)."""
    speaker: str

    @property
    def file_name(self) -> str:
        return f"{self.name}.wav"


_ROOT = "pocketsphinx-5.1.1/test/data/"
_AUSTEN = _ROOT + "librivox/sense_and_sensibility_01_austen_64kb-"

RECORDINGS: tuple[Recording, ...] = (
    Recording(
        "go-forward",
        _ROOT + "goforward.raw",
        "f15c60ec54059d8b66e410d0064945a0b0a04ea56e1ddca1958e493c0cf70e71",
        "go forward ten meters",
        CMU,
    ),
    Recording(
        "go-somewhere",
        _ROOT + "something.raw",
        "eb95b74ce3f3037487e49dcfd935bbcf8c158b5f4083dd19451729c3ee694f5f",
        "go somewhere and do something",
        CMU,
    ),
    Recording(
        "ten-of-clubs",
        _ROOT + "cards/001.wav",
        "899951e768666f27c8f8b1d4090b96fe7909cae9cec01bec0a5d5d1b8a8d566e",
        "ten of clubs",
        CMU,
    ),
    Recording(
        "seven-of-clubs",
        _ROOT + "cards/003.wav",
        "00d283e46bc257ae479e4aa86593cadb541656eba1d19fc8abeece37f6a5a18b",
        "seven of clubs",
        CMU,
    ),
    Recording(
        "three-cards",
        _ROOT + "cards/005.wav",
        "090f18f5f76cf8b2b43cd9e6b07823f4685a4742d9a36cd98b174a6586c18cf9",
        "eight of spades four of clubs seven of hearts",
        CMU,
    ),
    Recording(
        "austen-0870",
        _AUSTEN + "0870.wav",
        "b0557cf95c974d930577e58e46b7f068c432a6e3afcc286563d88922b2a5315c",
        "and mister john dashwood had then leisure to consider how much there might be "
        "prudently in his power to do for them",
        LIBRIVOX,
    ),
    Recording(
        "austen-0880",
        _AUSTEN + "0880.wav",
        "fbec491ef00ee734a67f0ee318e98c51c157b479e1629ff4f4426861ecac0414",
        "he was not an ill disposed young man",
        LIBRIVOX,
    ),
    Recording(
        "austen-0890",
        _AUSTEN + "0890.wav",
        "5793ffbdee55fb8bfd284943a6866864c832d9d4accf2661cabd39915c84ee10",
        "unless to be rather cold hearted and rather selfish is to be ill disposed",
        LIBRIVOX,
    ),
    Recording(
        "austen-0920",
        _AUSTEN + "0920.wav",
        "40882414ef4cc51f3ff7a63bad0c8c87e7f595ffeb8209fbf756c8ebc5c28a59",
        "had he married a more amiable woman he might have been made still more "
        "respectable than he was",
        LIBRIVOX,
    ),
    Recording(
        "austen-0930",
        _AUSTEN + "0930.wav",
        "954adbf0b56ac8a148cbe77b39ca18d76b5f2a1e1f405565bd786ce3e68a68b7",
        "he might even have been made amiable himself",
        LIBRIVOX,
    ),
)

SHORT_TURNS = ("go-forward", "go-somewhere", "ten-of-clubs", "three-cards", "austen-0880")
"""Finished short commands and sentences."""
LONG_TURNS = ("austen-0870", "austen-0920", "austen-0890")
"""Finished sentences of 5 to 7 s."""


@dataclass(frozen=True)
class HaltingCut:
    """A sentence cut at a word boundary, to be re-joined with a pause (the "halting" turns)."""

    recording: str
    cut_s: float
    """The quietest 10 ms between the two words, found once with tiny.en transcribing both
    halves (``tests/test_real_speech.py`` checks each half still reads as its words)."""
    first: str
    second: str


HALTING_CUTS: tuple[HaltingCut, ...] = (
    HaltingCut(
        "austen-0870",
        3.295,
        "and mister john dashwood had then leisure to consider",
        "how much there might be prudently in his power to do for them",
    ),
    HaltingCut(
        "austen-0890",
        3.875,
        "unless to be rather cold hearted and rather selfish is",
        "to be ill disposed",
    ),
    HaltingCut(
        "austen-0920",
        2.545,
        "had he married a more amiable woman",
        "he might have been made still more respectable than he was",
    ),
    HaltingCut("go-forward", 1.155, "go forward", "ten meters"),
    HaltingCut("three-cards", 1.205, "eight of spades", "four of clubs seven of hearts"),
)

HALTING_PAUSES_S = (0.3, 0.45, 0.6, 0.8, 1.0, 1.2)
"""Dead air between the two halves: the cut-off curve's x axis."""


def default_location(cache_dir: Path) -> Path:
    return cache_dir / "real-speech" / FOLDER_NAME


def located(environ: Mapping[str, str], cache_dir: Path) -> Path | None:
    """The folder of recordings, if they are there already (no fetching)."""
    named = environ.get(LOCATION_VARIABLE)
    for folder in ([Path(named)] if named else []) + [default_location(cache_dir)]:
        if is_complete(folder):
            return folder
    return None


def is_complete(folder: Path) -> bool:
    return all((folder / r.file_name).is_file() for r in RECORDINGS)


def ensure(cache_dir: Path, progress: Callable[[str], None] | None = None) -> Path:
    """The recordings' folder, fetching the source distribution with pip the first time."""
    folder = located(os.environ, cache_dir)
    if folder is not None:
        return folder
    folder = default_location(cache_dir)
    if progress:
        progress(f"fetching real speech recordings ({SDIST} source distribution, 34 MB)")
    with tempfile.TemporaryDirectory(prefix="real-speech-") as scratch:
        sdist = _download(Path(scratch))
        extract(sdist, folder)
    return folder


def _download(scratch: Path) -> Path:
    requirements = scratch / "requirements.txt"
    requirements.write_text(f"{SDIST} --hash=sha256:{SDIST_SHA256}\n", encoding="utf-8")
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--quiet",
        "--disable-pip-version-check",
        "--no-deps",
        "--no-binary",
        ":all:",
        "--require-hashes",
        "-r",
        str(requirements),
        "-d",
        str(scratch),
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    sdist = scratch / SDIST_FILE
    if done.returncode != 0 or not sdist.is_file():
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise UserFacingError(
            f"could not fetch the real speech recordings ({SDIST} from the package index: "
            f"{last}); check the network or pip's index settings and run it again"
        )
    return sdist


def extract(sdist: Path, folder: Path) -> None:
    """Write each recording as a WAV into ``folder``, each checked against its SHA-256."""
    if _sha256(sdist.read_bytes()) != SDIST_SHA256:
        raise UserFacingError(
            f"{sdist} is not the expected {SDIST_FILE}: delete it and fetch it again"
        )
    folder.mkdir(parents=True, exist_ok=True)
    with tarfile.open(sdist, "r:gz") as archive:
        for recording in RECORDINGS:
            member = archive.extractfile(recording.member)
            if member is None:
                raise UserFacingError(f"{SDIST_FILE} holds no {recording.member}")
            data = member.read()
            if _sha256(data) != recording.sha256:
                raise UserFacingError(
                    f"{recording.member} in {SDIST_FILE} does not match its recorded hash"
                )
            partial = folder / (recording.file_name + ".partial")
            partial.write_bytes(data if data[:4] == b"RIFF" else wav_from_raw(data))
            partial.replace(folder / recording.file_name)


def wav_from_raw(data: bytes) -> bytes:
    """CMU's ``.raw`` files: headerless 16 kHz mono signed 16-bit little-endian."""
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(SPEECH_SAMPLE_RATE)
        wav.writeframes(data[: len(data) - len(data) % 2])
    return out.getvalue()


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def by_name(name: str) -> Recording:
    for recording in RECORDINGS:
        if recording.name == name:
            return recording
    raise KeyError(name)


def load(folder: Path, name: str) -> FloatAudio:
    return read_speech(folder / by_name(name).file_name)


def split(audio: FloatAudio, cut_s: float) -> tuple[FloatAudio, FloatAudio]:
    at = int(cut_s * SPEECH_SAMPLE_RATE)
    return audio[:at], audio[at:]


def halting(folder: Path, cut: HaltingCut, pause_s: float) -> FloatAudio:
    """The sentence with ``pause_s`` of dead air at its cut: each half is trimmed to its speech
    (the loudness rule the latency is measured by), so the pause is exactly that long."""
    from voice_sidecar.converse.speech_span import find_speech_span

    first, second = split(load(folder, cut.recording), cut.cut_s)
    rate = SPEECH_SAMPLE_RATE
    head = find_speech_span(first, rate)
    tail = find_speech_span(second, rate)
    return np.concatenate(
        [
            np.zeros(int(rate * 0.2), dtype=np.float32),
            first[int(head.start_s * rate) : int(head.end_s * rate)],
            np.zeros(int(rate * pause_s), dtype=np.float32),
            second[int(tail.start_s * rate) : int(tail.end_s * rate)],
        ]
    ).astype(np.float32)


def export_turns(folder: Path, out: Path, pauses_s: tuple[float, ...]) -> list[Path]:
    """The finished turns and the halting ones (at ``pauses_s``) as WAV files, one turn each,
    for other harnesses (the peer's ``pipecat_turns.py``) to play the same audio."""
    from voice_sidecar.audio_files import float_to_int16, write_wav

    out.mkdir(parents=True, exist_ok=True)
    turns = [(f"finished-{n}", load(folder, n)) for n in SHORT_TURNS + LONG_TURNS]
    turns += [
        (f"halting-{int(p * 1000):04d}ms-{c.recording}", halting(folder, c, p))
        for p in pauses_s
        for c in HALTING_CUTS
    ]
    written = []
    for name, audio in turns:
        path = out / f"{name}.wav"
        write_wav(path, float_to_int16(audio), sample_rate=SPEECH_SAMPLE_RATE)
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    """``python -m voice_sidecar.bench.real_speech [CACHE_DIR]``: fetch (the speech and, beside
    it, the coughs and laughs of ``vocal_sounds``), print the speech's folder;
    ``... export OUT [PAUSE_S ...]``: also write the bench's real turns as WAVs into OUT."""
    from voice_sidecar.paths import default_cache_dir

    args = sys.argv[1:] if argv is None else argv
    export = args[:1] == ["export"]
    cache_dir = default_cache_dir() if export or not args else Path(args[0])
    from . import vocal_sounds

    def note(line: str) -> None:
        print(line, file=sys.stderr)

    try:
        folder = ensure(cache_dir, note)
        # the coughs, laughs and hums live beside the speech (vocal_sounds.located finds them
        # next to the folder printed here, the one CI exports)
        vocal_sounds.ensure(cache_dir, note)
    except UserFacingError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if export:
        if len(args) < 2:
            print("error: export needs an output folder", file=sys.stderr)
            return 2
        pauses = tuple(float(a) for a in args[2:]) or HALTING_PAUSES_S
        for path in export_turns(folder, Path(args[1]), pauses):
            print(path)
        return 0
    print(folder)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
