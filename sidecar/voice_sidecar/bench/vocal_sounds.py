"""Recordings of people coughing, laughing and humming "mm", for the benchmark and the tests.

They are voice lines of the game Hedgewars, recorded by its authors (Debian's
``hedgewars-data`` package, GFDL-1.3): fetched once with ``apt-get download`` (the package's
SHA-256 checked), each ``.ogg`` taken from it checked against its own SHA-256 and written as a
16 kHz mono 16-bit WAV into the user's cache, beside the real speech (``real_speech``), never
into the repository. ``docs/licences.md`` ("Recordings of non-speech sounds") gives each one's
provenance.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from voice_sidecar.audio_files import SPEECH_SAMPLE_RATE, FloatAudio, read_speech
from voice_sidecar.errors import UserFacingError
from voice_sidecar.models.hashing import sha256_file

from . import real_speech

PACKAGE = "hedgewars-data"
VERSION = "1.0.2-6"
DEB_FILE = f"{PACKAGE}_{VERSION}_all.deb"
DEB_SHA256 = "722225903a72604403e6e0026e40e9a6953f47a74d94efc5f55504bc05bb4761"
FOLDER_NAME = f"{PACKAGE}-{VERSION}"

COUGH = "cough"
LAUGH = "laugh"
HUM = "mm"
KINDS = (COUGH, LAUGH, HUM)


@dataclass(frozen=True)
class VocalSound:
    name: str
    kind: str
    member: str
    """Path inside the package's data archive."""
    sha256: str
    heard_as: str
    """What tiny.en wrote for the file alone (beam 1): what the pipeline may transcribe."""

    @property
    def file_name(self) -> str:
        return f"{self.name}.wav"


_VOICES = "./usr/share/games/hedgewars/Data/Sounds/voices/"

SOUNDS: tuple[VocalSound, ...] = (
    VocalSound(
        "cough-default",
        COUGH,
        _VOICES + "Default/PoisonCough.ogg",
        "2bf75ba623be9a15ef187fa7bde5dfff87a767dbdb752b8d02d23e728e68ab89",
        "Crap!",
    ),
    VocalSound(
        "cough-short",
        COUGH,
        _VOICES + "Default_ru/PoisonCough.ogg",
        "c321adae006e9bc39ce38f1d7dfde6a32d7298824ea7967d170278bad191f9b2",
        "",
    ),
    VocalSound(
        "cough-hillbilly",
        COUGH,
        _VOICES + "HillBilly/PoisonCough.ogg",
        "75f7e90b13b9d2512bc487a062170c0b0ff44364b67f0fef0c7221b0287c6567",
        "Thank you.",
    ),
    VocalSound(
        "laugh-british",
        LAUGH,
        _VOICES + "British/Laugh.ogg",
        "cde4702b0e66efd13ee663d11d8fab9e9db5c119f48264eeddb9abc7ba70115e",
        "Ha ha ha!",
    ),
    VocalSound(
        "laugh-default",
        LAUGH,
        _VOICES + "Default/Laugh.ogg",
        "ee514fe4ec07362a4bd9939e652aa6a8fd2a488cb10d9f91d13e9f4f990e7f96",
        "",
    ),
    VocalSound(
        "laugh-russian",
        LAUGH,
        _VOICES + "Russian/Laugh.ogg",
        "fb853b960bc3688be51aaacd00836dd061f1a56cb2eed3086c44230955cac797",
        "Ha ha ha ha ha ha ha",
    ),
    VocalSound(
        "mm-mobster",
        HUM,
        _VOICES + "Mobster/Hmm.ogg",
        "23d272760508448f293daa5f422263ac440700374e898f7f818bdc6da537d95b",
        "Mm.",
    ),
    VocalSound(
        "mm-russian",
        HUM,
        _VOICES + "Default_ru/Hmm.ogg",
        "ccb48b5c751e373427380be8c4c682699e69fc0a6a894dab8625224111d8a470",
        "Mm.",
    ),
    VocalSound(
        "mm-ukrainian",
        HUM,
        _VOICES + "Default_uk/Hmm.ogg",
        "77516c92549a25fab89989641d7c11d0036e280ee289ccae9c6f85424ab35f7e",
        "Yeah.",
    ),
)


def default_location(cache_dir: Path) -> Path:
    return real_speech.default_location(cache_dir).parent / FOLDER_NAME


def located(environ: Mapping[str, str], cache_dir: Path) -> Path | None:
    """The folder of sounds, if it is there already: beside the real speech's folder (the one
    ``VOICE_SIDECAR_REAL_SPEECH`` names, as CI sets it) or in the user's cache."""
    named = environ.get(real_speech.LOCATION_VARIABLE)
    found = beside(Path(named)) if named else None
    if found is None and is_complete(default_location(cache_dir)):
        found = default_location(cache_dir)
    return found


def beside(speech_dir: Path) -> Path | None:
    """The sounds next to a given folder of real speech, if they are there (no fetching)."""
    folder = speech_dir.parent / FOLDER_NAME
    return folder if is_complete(folder) else None


def is_complete(folder: Path) -> bool:
    return all((folder / s.file_name).is_file() for s in SOUNDS)


def ensure(cache_dir: Path, progress: Callable[[str], None] | None = None) -> Path:
    """The sounds' folder, fetching the Debian package the first time."""
    folder = located(os.environ, cache_dir)
    if folder is not None:
        return folder
    folder = default_location(cache_dir)
    if progress:
        progress(f"fetching recordings of coughs and laughs ({PACKAGE} {VERSION}, 145 MB)")
    with tempfile.TemporaryDirectory(prefix="vocal-sounds-") as scratch:
        extract(_download(Path(scratch)), folder)
    return folder


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise UserFacingError(
            f"the recordings of coughs and laughs come from a Debian package and need {name}, "
            "which this machine lacks; run the bench with --speech synthetic"
        )
    return path


def _download(scratch: Path) -> Path:
    command = [_tool("apt-get"), "download", "--quiet", f"{PACKAGE}={VERSION}"]
    try:
        done = subprocess.run(
            command, cwd=scratch, capture_output=True, text=True, check=False, timeout=900
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise UserFacingError(
            f"could not fetch the recordings of coughs and laughs ({PACKAGE} {VERSION}: {exc}); "
            "they need Debian's apt-get (run `apt-get update` first)"
        ) from None
    deb = scratch / DEB_FILE
    if done.returncode != 0 or not deb.is_file():
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise UserFacingError(
            f"could not fetch the recordings of coughs and laughs ({PACKAGE} {VERSION}: {last}); "
            "run `apt-get update` and try again"
        )
    return deb


def extract(deb: Path, folder: Path) -> None:
    """Write each sound as a WAV into ``folder``, each checked against its SHA-256."""
    if sha256_file(deb) != DEB_SHA256:
        raise UserFacingError(f"{deb} is not the expected {DEB_FILE}: delete it and fetch it again")
    wanted = {s.member: s for s in SOUNDS}
    found: dict[str, bytes] = {}
    # dpkg-deb unpacks the package's data archive (xz inside ar) as a plain tar stream
    unpack = [_tool("dpkg-deb"), "--fsys-tarfile", str(deb)]
    with subprocess.Popen(unpack, stdout=subprocess.PIPE) as proc:
        assert proc.stdout is not None
        with tarfile.open(fileobj=proc.stdout, mode="r|") as archive:
            for member in archive:
                if member.name in wanted:
                    handle = archive.extractfile(member)
                    if handle is not None:
                        found[member.name] = handle.read()
    folder.mkdir(parents=True, exist_ok=True)
    for sound in SOUNDS:
        data = found.get(sound.member)
        if data is None:
            raise UserFacingError(f"{DEB_FILE} holds no {sound.member}")
        if hashlib.sha256(data).hexdigest() != sound.sha256:
            raise UserFacingError(f"{sound.member} in {DEB_FILE} does not match its recorded hash")
        partial = folder / (sound.file_name + ".partial")
        partial.write_bytes(_wav_from_ogg(data))
        partial.replace(folder / sound.file_name)


def _wav_from_ogg(data: bytes) -> bytes:
    import av

    chunks: list[npt.NDArray[Any]] = []
    with av.open(io.BytesIO(data), mode="r") as container:
        resampler = av.AudioResampler(format="s16", layout="mono", rate=SPEECH_SAMPLE_RATE)
        for frame in container.decode(audio=0):
            chunks.extend(f.to_ndarray().reshape(-1) for f in resampler.resample(frame))
        chunks.extend(f.to_ndarray().reshape(-1) for f in resampler.resample(None))
    return real_speech.wav_from_raw(np.concatenate(chunks).astype("<i2").tobytes())


def by_name(name: str) -> VocalSound:
    for sound in SOUNDS:
        if sound.name == name:
            return sound
    raise KeyError(name)


def load(folder: Path, name: str) -> FloatAudio:
    return read_speech(folder / by_name(name).file_name)
