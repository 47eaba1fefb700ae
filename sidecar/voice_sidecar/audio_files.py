"""Reading speech from files and writing agent audio to WAV."""

from __future__ import annotations

import os
import wave
from pathlib import Path

import numpy as np
import numpy.typing as npt

from .errors import AudioFileError

SPEECH_SAMPLE_RATE = 16_000

FloatAudio = npt.NDArray[np.float32]
Int16Audio = npt.NDArray[np.int16]


def read_speech(path: Path, *, sample_rate: int = SPEECH_SAMPLE_RATE) -> FloatAudio:
    """Mono float32 audio at ``sample_rate`` from a PCM WAV file (any rate and channel count),
    or any other format FFmpeg reads where PyAV is installed (not in the frozen build)."""
    if not path.exists():
        raise AudioFileError(f"audio file {path} does not exist")
    if not path.is_file():
        raise AudioFileError(f"{path} is not a file")
    try:
        with path.open("rb") as probe:
            header = probe.read(12)
    except OSError as exc:
        raise AudioFileError(f"cannot read {path}: {exc.strerror or exc}") from None
    if header[:4] == b"RIFF" and header[8:12] == b"WAVE":
        samples = _read_pcm_wav(path, sample_rate)
        if samples is not None:
            return _non_empty(samples, path)
    return _non_empty(_decode_with_ffmpeg(path, sample_rate), path)


def _non_empty(samples: FloatAudio, path: Path) -> FloatAudio:
    if samples.size == 0:
        raise AudioFileError(f"{path} holds no audio samples")
    return samples


_PCM_DTYPES = {2: np.int16, 4: np.int32}


def _read_pcm_wav(path: Path, sample_rate: int) -> FloatAudio | None:
    """Integer PCM through the standard library; None for WAV encodings it cannot read."""
    try:
        with wave.open(str(path), "rb") as wav:
            width, channels, rate = wav.getsampwidth(), wav.getnchannels(), wav.getframerate()
            frames = wav.readframes(wav.getnframes())
    except (wave.Error, EOFError):
        return None  # float or compressed WAV: FFmpeg's job
    if width not in (1, 2, 3, 4) or channels < 1:
        return None
    frames = frames[: len(frames) - len(frames) % (width * channels)]
    if width == 1:  # 8-bit WAV is unsigned
        audio = (np.frombuffer(frames, dtype=np.uint8).astype(np.float32) - 128.0) / 128.0
    elif width == 3:
        triples = np.frombuffer(frames, dtype=np.uint8).reshape(-1, 3).astype(np.int32)
        packed = triples[:, 0] | (triples[:, 1] << 8) | (triples[:, 2] << 16)
        signed = np.where(packed >= 1 << 23, packed - (1 << 24), packed)
        audio = signed.astype(np.float32) / float(1 << 23)
    else:
        raw = np.frombuffer(frames, dtype=_PCM_DTYPES[width])
        audio = raw.astype(np.float32) / float(2 ** (8 * width - 1))
    mono = audio.reshape(-1, channels).mean(axis=1).astype(np.float32)
    return resample(mono, rate, sample_rate)


def resample(audio: FloatAudio, rate: int, target: int) -> FloatAudio:
    if rate == target or audio.size == 0:
        return audio
    return int16_to_float(resample_int16(float_to_int16(audio), rate, target))


def resample_int16(pcm: Int16Audio, rate: int, target: int) -> Int16Audio:
    """Mono 16-bit PCM through LiveKit's native high-quality resampler (files and live audio)."""
    if rate == target or pcm.size == 0:
        return pcm
    from livekit import rtc  # deferred: the CLI starts without LiveKit's native library

    resampler = rtc.AudioResampler(
        input_rate=rate, output_rate=target, num_channels=1, quality=rtc.AudioResamplerQuality.HIGH
    )
    frames = [*resampler.push(bytearray(pcm.tobytes())), *resampler.flush()]
    if not frames:
        return np.zeros(0, dtype=np.int16)
    return np.concatenate([np.frombuffer(frame.data, dtype=np.int16) for frame in frames])


def _decode_with_ffmpeg(path: Path, sample_rate: int) -> FloatAudio:
    try:
        from av.error import FFmpegError  # deferred: PyAV loads FFmpeg's libraries
        from faster_whisper.audio import decode_audio
    except ImportError:
        raise AudioFileError(
            f"{path} is not a PCM WAV file, and this build reads only those (no FFmpeg); "
            "convert it, e.g. ffmpeg -i input -ar 16000 -ac 1 output.wav"
        ) from None
    try:
        audio = decode_audio(str(path), sampling_rate=sample_rate)
    except (FFmpegError, ValueError, IndexError, StopIteration) as exc:
        raise AudioFileError(
            f"{path} is not an audio file FFmpeg can decode ({type(exc).__name__}); "
            "record a WAV file"
        ) from None
    return np.asarray(audio, dtype=np.float32)


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


SILENT_PEAK_DBFS = -55.0
"""An input whose loudest sample is below this holds no speech anyone could hear."""


def check_not_silent(samples: FloatAudio, path: Path) -> FloatAudio:
    """``AudioFileError`` for a silent input: the assistant would wait for speech in vain."""
    peak = float(np.max(np.abs(samples))) if samples.size else 0.0
    level = 20 * np.log10(peak) if peak > 0 else float("-inf")
    if level < SILENT_PEAK_DBFS:
        shown = "-inf" if level == float("-inf") else f"{level:.0f}"
        raise AudioFileError(
            f"{path} is silent (its loudest sample is {shown} dBFS): there is no speech to "
            "answer; record it again, or check the microphone's level"
        )
    return samples


def check_output_file(path: Path) -> None:
    """``AudioFileError`` unless ``path`` can be written as a WAV file: checked before a
    conversation starts, so that its end is not lost to a bad ``--out``."""
    import tempfile

    if path.is_dir():
        raise AudioFileError(
            f"--out {path} is a folder; give a file name, e.g. --out {path / 'reply.wav'}"
        )
    folder = path.parent if str(path.parent) else Path()
    if not folder.is_dir():
        raise AudioFileError(f"--out {path}: the folder {folder} does not exist")
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".voice-sidecar-", suffix=".tmp"):
            pass
    except OSError as exc:
        raise AudioFileError(
            f"--out {path}: cannot write in {folder} ({exc.strerror or exc}); choose another place"
        ) from None
    if path.exists() and not os.access(path, os.W_OK):
        raise AudioFileError(f"--out {path} exists and cannot be overwritten; choose another name")
