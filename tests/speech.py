"""Test speech, made by the tests themselves: Piper speaks, or espeak-ng as a second speaker."""

from __future__ import annotations

import difflib
import re
import shutil
import subprocess
import threading
from pathlib import Path

import numpy as np
from livekit import rtc

from voice_sidecar.audio_files import FloatAudio, write_wav
from voice_sidecar.plugins.piper import PiperEngine
from voice_sidecar.plugins.whisper import frames_to_speech


def piper_pcm(engine: PiperEngine, text: str) -> np.ndarray:
    """The same audio for the same text in every run: Piper's random variation made a
    rendition that tiny.en misheard (about one run in a few hundred) fail a test in CI."""
    chunks = engine.synthesize_chunks(
        text, length_scale=None, stop=threading.Event(), deterministic=True
    )
    pcm = b"".join(chunks)
    return np.frombuffer(pcm, dtype=np.int16)


def piper_wav(engine: PiperEngine, text: str, path: Path, *, pad_s: float = 0.2) -> Path:
    pcm = piper_pcm(engine, text)
    pad = np.zeros(int(engine.sample_rate * pad_s), dtype=np.int16)
    write_wav(path, np.concatenate([pad, pcm, pad]), sample_rate=engine.sample_rate)
    return path


def to_speech_rate(pcm: np.ndarray, sample_rate: int) -> FloatAudio:
    frame = rtc.AudioFrame(
        data=pcm.astype(np.int16).tobytes(),
        sample_rate=sample_rate,
        num_channels=1,
        samples_per_channel=len(pcm),
    )
    return frames_to_speech(frame)


def espeak_wav(text: str, path: Path, *, voice: str = "en-us+m3") -> Path | None:
    """A different speaker than the agent's; None when espeak-ng is not installed."""
    binary = shutil.which("espeak-ng")
    if binary is None:
        return None
    subprocess.run([binary, "-v", voice, "-s", "160", "-w", str(path), text], check=True)
    return path


def _normalised(text: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9' ]+", " ", text.lower()).split())


def sounds_like(heard: str, said: str) -> float:
    """How close a transcript of the agent's voice is to the text it spoke, 0..1.

    The agent's voice keeps Piper's natural variation, so tiny.en mishears a word now and
    then ("rain" as "ring", "France is" as "Francis"): a word-for-word check fails a CI run
    in a few hundred. Characters compared in order separate the reply that was spoken
    (0.95 and up when a word is misheard) from any other reply (0.4 and below)."""
    return difflib.SequenceMatcher(None, _normalised(heard), _normalised(said)).ratio()


def assert_heard(heard: str, said: str, *, at_least: float = 0.8) -> None:
    score = sounds_like(heard, said)
    assert score >= at_least, f"heard {heard!r} for {said!r} (similarity {score:.2f})"
