"""Reading speech from files and writing agent audio to WAV."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import numpy.typing as npt

from .errors import AudioFileError

SPEECH_SAMPLE_RATE = 16_000

FloatAudio = npt.NDArray[np.float32]
Int16Audio = npt.NDArray[np.int16]


def read_speech(path: Path, *, sample_rate: int = SPEECH_SAMPLE_RATE) -> FloatAudio:
    """Mono float32 audio at ``sample_rate`` from a WAV (any rate, channels, sample format)
    or any other format FFmpeg reads."""
    if not path.exists():
        raise AudioFileError(f"audio file {path} does not exist")
    if not path.is_file():
        raise AudioFileError(f"{path} is not a file")
    try:
        with path.open("rb") as probe:
            probe.read(1)
    except OSError as exc:
        raise AudioFileError(f"cannot read {path}: {exc.strerror or exc}") from None

    import av  # deferred: PyAV loads FFmpeg's libraries
    from faster_whisper.audio import decode_audio

    try:
        audio = decode_audio(str(path), sampling_rate=sample_rate)
    except (av.error.FFmpegError, ValueError, IndexError, StopIteration) as exc:
        raise AudioFileError(
            f"{path} is not an audio file FFmpeg can decode ({type(exc).__name__}); "
            "record a WAV file"
        ) from None
    samples = np.asarray(audio, dtype=np.float32)
    if samples.size == 0:
        raise AudioFileError(f"{path} holds no audio samples")
    return samples


def float_to_int16(audio: FloatAudio) -> Int16Audio:
    return (np.clip(audio, -1.0, 1.0) * 32767.0).astype(np.int16)


def int16_to_float(audio: Int16Audio) -> FloatAudio:
    return (audio.astype(np.float32) / 32768.0).astype(np.float32)


def write_wav(path: Path, audio: Int16Audio, *, sample_rate: int) -> None:
    """Write mono 16-bit PCM."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(sample_rate)
        out.writeframes(np.ascontiguousarray(audio, dtype=np.int16).tobytes())
