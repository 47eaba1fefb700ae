import sys
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


def _write_pcm(path: Path, tone: np.ndarray, width: int, rate: int) -> None:
    """The same tone (int16 samples) as 8-, 16-, 24- or 32-bit PCM."""
    if width == 1:
        data = ((tone.astype(np.int32) >> 8) + 128).astype(np.uint8).tobytes()
    elif width == 2:
        data = tone.tobytes()
    elif width == 3:
        wide = tone.astype(np.int32) << 8
        triples = np.stack([wide & 0xFF, (wide >> 8) & 0xFF, (wide >> 16) & 0xFF], axis=1)
        data = triples.astype(np.uint8).tobytes()
    else:
        data = (tone.astype(np.int32) << 16).tobytes()
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(width)
        out.setframerate(rate)
        out.writeframes(data)


@pytest.mark.parametrize("width", [1, 2, 3, 4])
def test_pcm_wav_of_every_width_reads_without_ffmpeg(
    tmp_path: Path, width: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the frozen build has no PyAV: WAV input must not need it
    monkeypatch.setitem(sys.modules, "av", None)
    monkeypatch.setitem(sys.modules, "av.error", None)
    path = tmp_path / f"tone{width}.wav"
    _write_pcm(path, _tone(22_050, 1.0, freq=440.0), width, 22_050)
    audio = read_speech(path)
    assert abs(len(audio) - 16_000) < 200
    spectrum = np.abs(np.fft.rfft(audio))
    peak_hz = float(np.argmax(spectrum)) * 16_000 / len(audio)
    assert abs(peak_hz - 440.0) < 5, "resampling moved the pitch"
    assert 0.4 < float(np.max(np.abs(audio))) < 0.6


def test_without_ffmpeg_other_formats_get_one_line_with_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "av", None)
    monkeypatch.setitem(sys.modules, "av.error", None)
    path = tmp_path / "speech.mp3"
    path.write_bytes(b"ID3\x03\x00" + b"\x00" * 100)
    with pytest.raises(AudioFileError, match="reads only those") as caught:
        read_speech(path)
    assert "ffmpeg -i" in str(caught.value)
