"""Whisper on a shorter encoder window than its 30 s, for the short clips a turn is.

Whisper pads every clip to 30 s and its encoder (attention over 1,500 positions) then costs the
same for "stop" as for a paragraph: on this project's 2-core CPU, 0.22 s of tiny.en's 0.40 s a
turn. CTranslate2 accepts a shorter input, and on a 12 s window the encoder takes 0.04 s. The
decoder was trained on 30 s windows, though, and on a short one it can lose track of where the
speech ends and repeat itself ("10 of clubs 10 of clubs ..."); with more padding after the
speech it does not (docs/benchmarks.md, "Issue 14: Whisper on a 12 s window"). So a windowed
result is used only when it reads like a finished, confident transcript: it ended on its own
within a budget of tokens for the clip's length, repeats no phrase back to back, and its mean
log-probability and no-speech probability are where faster-whisper would accept them without
a retry. Anything else returns ``None``, and the caller runs the full 30 s window, so the
worst case costs the short run (about a fifth of the full one) on top of today's.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from voice_sidecar.audio_files import SPEECH_SAMPLE_RATE, FloatAudio

FULL_WINDOW_S = 30.0
"""Whisper's own window: a ``window_s`` of this (or more) means no windowed run."""

MIN_PADDING_S = 2.0
"""Silence the window keeps after a clip longer than ``window_s`` allows for."""

FRAMES_PER_SECOND = 100
"""Whisper's mel frames (10 ms hop)."""

TOKENS_PER_SECOND = 10
TOKENS_BASE = 12
"""The token budget: fast English speech is about 5 tokens a second, digits and
punctuation included; twice that plus a margin means a run that hits the budget is looping."""

LOG_PROB_THRESHOLD = -1.0
NO_SPEECH_THRESHOLD = 0.6
"""faster-whisper's defaults: below the first it retries at a higher temperature; above the
second (with a low log-probability) it calls the clip silence."""


@dataclass(frozen=True)
class WindowedResult:
    text: str
    window_s: float


def window_for(audio_seconds: float, window_s: float) -> float | None:
    """The window to run a clip of this length on, or ``None`` for the full 30 s one."""
    if window_s >= FULL_WINDOW_S:
        return None
    needed = max(window_s, math.ceil(audio_seconds + MIN_PADDING_S))
    return None if needed >= FULL_WINDOW_S else float(needed)


def transcribe_windowed(
    model: Any, audio: FloatAudio, *, language: str, beam_size: int, window_s: float
) -> WindowedResult | None:
    """The clip's text from a ``window_s`` encoder window, or ``None`` when it cannot be trusted.

    ``model`` is a faster-whisper ``WhisperModel``; ``language`` must be known (language
    detection reads the full window)."""
    from faster_whisper.tokenizer import Tokenizer
    from faster_whisper.transcribe import get_ctranslate2_storage

    seconds = len(audio) / SPEECH_SAMPLE_RATE
    window = window_for(seconds, window_s)
    if window is None:
        return None
    features = model.feature_extractor(audio)
    frames = int(window * FRAMES_PER_SECOND)
    features = np.pad(features, ((0, 0), (0, max(0, frames - features.shape[1]))))[:, :frames]
    tokenizer = Tokenizer(
        model.hf_tokenizer, model.model.is_multilingual, task="transcribe", language=language
    )
    prompt = [*tokenizer.sot_sequence, tokenizer.no_timestamps]
    budget = TOKENS_BASE + math.ceil(TOKENS_PER_SECOND * seconds)
    encoded = model.model.encode(
        get_ctranslate2_storage(np.ascontiguousarray(features[np.newaxis])), to_cpu=False
    )
    result = model.model.generate(
        encoded,
        [prompt],
        beam_size=beam_size,
        max_length=len(prompt) + budget,
        return_scores=True,
        return_no_speech_prob=True,
        suppress_blank=True,
        suppress_tokens=[-1],
    )[0]
    tokens = [t for t in result.sequences_ids[0] if t < tokenizer.eot]
    if len(tokens) >= budget:
        return None  # it did not stop by itself: a loop
    avg_log_prob = result.scores[0] if tokens else 0.0  # length_penalty 1: already per token
    if avg_log_prob < LOG_PROB_THRESHOLD or result.no_speech_prob > NO_SPEECH_THRESHOLD:
        return None
    text = tokenizer.decode(tokens).strip()
    if repeats_a_phrase(text):
        return None
    return WindowedResult(text=text, window_s=window)


def repeats_a_phrase(text: str) -> bool:
    """A phrase of two or more words said twice in a row ("ten of clubs ten of clubs"): how a
    decoder that lost the clip's end loops. A person rarely does it; when one does, the
    full window decides, so the cost of a false alarm is one slower transcript."""
    words = re.sub(r"[^a-z0-9' ]+", " ", text.lower()).split()
    for size in range(2, len(words) // 2 + 1):
        for start in range(len(words) - 2 * size + 1):
            if words[start : start + size] == words[start + size : start + 2 * size]:
                return True
    return False
