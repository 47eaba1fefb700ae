"""Where the speech lies inside a recording (so latency counts from the last word)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from voice_sidecar.audio_files import FloatAudio

_WINDOW_S = 0.02
_FLOOR_DB = -45.0
_BELOW_PEAK_DB = 35.0


@dataclass(frozen=True)
class SpeechSpan:
    start_s: float
    end_s: float


def find_speech_span(audio: FloatAudio, sample_rate: int) -> SpeechSpan:
    """First and last 20 ms window louder than max(-45 dBFS, peak - 35 dB)."""
    window = max(1, int(sample_rate * _WINDOW_S))
    count = len(audio) // window
    if count == 0:
        return SpeechSpan(0.0, len(audio) / sample_rate)
    frames = audio[: count * window].reshape(count, window).astype(np.float64)
    rms = np.sqrt(np.mean(frames**2, axis=1) + 1e-12)
    db = 20 * np.log10(rms)
    threshold = max(_FLOOR_DB, float(db.max()) - _BELOW_PEAK_DB)
    loud = np.flatnonzero(db > threshold)
    if loud.size == 0:
        return SpeechSpan(0.0, len(audio) / sample_rate)
    return SpeechSpan(loud[0] * _WINDOW_S, (loud[-1] + 1) * _WINDOW_S)
