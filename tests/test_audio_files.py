import wave
from pathlib import Path

import numpy as np
import pytest

from voice_sidecar.audio_files import read_speech, write_wav
from voice_sidecar.errors import AudioFileError


def _tone(rate: int, seconds: float, freq: float = 440.0) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (0.5 * np.sin(2 * np.pi * freq * t) * 32767).astype(np.int16)


def test_stereo_48k_wav_becomes_mono_16k(tmp_path: Path) -> None:
    left = _tone(48_000, 1.0)
    stereo = np.stack([left, left], axis=1).reshape(-1)
    path = tmp_path / "stereo.wav"
    with wave.open(str(path), "wb") as out:
        out.setnchannels(2)
        out.setsampwidth(2)
        out.setframerate(48_000)
        out.writeframes(stereo.tobytes())
    audio = read_speech(path)
    assert audio.dtype == np.float32
    assert abs(len(audio) - 16_000) < 200
    assert 0.3 < float(np.max(np.abs(audio))) < 0.6


def test_round_trip_of_written_wav(tmp_path: Path) -> None:
    path = tmp_path / "tone.wav"
    write_wav(path, _tone(22_050, 0.5), sample_rate=22_050)
    with wave.open(str(path)) as wav:
        assert (wav.getnchannels(), wav.getframerate(), wav.getnframes()) == (1, 22_050, 11_025)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "does not exist"),
        (b"", "not an audio file"),
        (b"hello, this is text and not audio at all\n" * 20, "not an audio file"),
        (b"RIFF\x24\x00\x00\x00WAVEfmt ", "not an audio file"),
    ],
)
def test_bad_files_get_one_clear_error(tmp_path: Path, content: bytes | None, message: str) -> None:
    path = tmp_path / "input.wav"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(AudioFileError, match=message) as caught:
        read_speech(path)
    assert "\n" not in str(caught.value)


def test_directory_is_not_an_audio_file(tmp_path: Path) -> None:
    with pytest.raises(AudioFileError, match="is not a file"):
        read_speech(tmp_path)


def test_wav_with_no_samples_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "empty.wav"
    write_wav(path, np.zeros(0, dtype=np.int16), sample_rate=16_000)
    with pytest.raises(AudioFileError):
        read_speech(path)
