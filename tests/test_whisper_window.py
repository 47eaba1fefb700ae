"""Whisper on a short encoder window (``stt.window_s``): the same words as the full 30 s window
on real speech, and the full window whenever the short one's result cannot be trusted.

Real tiny.en, real recordings (``real_speech``) and real coughs and laughs (``vocal_sounds``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from voice_sidecar.bench import real_speech, vocal_sounds
from voice_sidecar.bench.beam_probe import as_heard, words
from voice_sidecar.plugins.whisper import Transcript
from voice_sidecar.plugins.whisper_window import (
    FULL_WINDOW_S,
    repeats_a_phrase,
    transcribe_windowed,
    window_for,
)
from voice_sidecar.runtime import SpeechRuntime
from voice_sidecar.settings import SttSettings


@pytest.mark.parametrize(
    ("seconds", "window", "expected"),
    [
        (1.3, 12.0, 12.0),  # a short turn: the set window
        (10.0, 12.0, 12.0),  # exactly 2 s of room left
        (11.2, 12.0, 14.0),  # longer: the speech plus at least 2 s, in whole seconds
        (27.5, 12.0, None),  # no shorter than the full window: run the full window
        (1.0, 30.0, None),  # 30: off
    ],
)
def test_window_for_a_clip(seconds: float, window: float, expected: float | None) -> None:
    assert window_for(seconds, window) == expected


@pytest.mark.parametrize(
    ("text", "loops"),
    [
        ("10 of clubs 10 of clubs", True),
        ("Go forward. Go forward.", True),
        ("Eight of spades, Eight of spades, Eight of", True),
        ("No, no, I said no.", False),  # one word twice is speech, not a loop
        ("ha ha ha", False),
        ("Ha ha ha ha", True),  # the full window decides
        ("Set a timer for ten minutes, please.", False),
        ("", False),
    ],
)
def test_a_phrase_said_twice_in_a_row_reads_as_a_loop(text: str, loops: bool) -> None:
    assert repeats_a_phrase(text) is loops


def test_window_setting_range() -> None:
    assert SttSettings().window_s == 12.0
    with pytest.raises(ValueError, match="window_s must be between 4 and 30"):
        SttSettings(window_s=2.0)


@pytest.mark.real_speech
def test_real_speech_gives_the_full_windows_words_on_twelve_seconds(
    runtime: SpeechRuntime, real_speech_dir: Path
) -> None:
    """Every recording, and the first half of every halting sentence (what the speculative run
    hears at a pause), as the speculative run hears it: the 12 s window is used and gives the
    words the 30 s window gives (docs/benchmarks.md, "Issue 14: Whisper on a 12 s window")."""
    engine = runtime.whisper
    clips = {
        r.name: as_heard(real_speech.load(real_speech_dir, r.name)) for r in real_speech.RECORDINGS
    }
    for cut in real_speech.HALTING_CUTS:
        first, _ = real_speech.split(real_speech.load(real_speech_dir, cut.recording), cut.cut_s)
        clips[f"{cut.recording} (first half)"] = as_heard(first)
    for name, audio in clips.items():
        full = engine.executor.submit(
            engine.transcribe, audio, language="en", beam_size=2, window_s=FULL_WINDOW_S
        ).result()
        short = engine.executor.submit(
            engine.transcribe, audio, language="en", beam_size=2, window_s=12.0
        ).result()
        assert short.window_s == 12.0, name
        assert words(short.text) == words(full.text), name


@pytest.mark.real_speech
def test_a_window_too_short_for_the_clip_loops_and_the_full_window_answers(
    runtime: SpeechRuntime, real_speech_dir: Path
) -> None:
    """On 8 s, "ten of clubs" (1.3 s) makes tiny.en repeat itself: the checks catch it and the
    transcript comes from the full window, with its words."""
    engine = runtime.whisper
    audio = as_heard(real_speech.load(real_speech_dir, "ten-of-clubs"))

    def run() -> tuple[object, str, float]:
        windowed = transcribe_windowed(
            engine._model, audio, language="en", beam_size=2, window_s=8.0
        )
        t = engine.transcribe(audio, language="en", beam_size=2, window_s=8.0)
        return windowed, t.text, t.window_s

    windowed, text, used = engine.executor.submit(run).result()
    assert windowed is None
    assert used == FULL_WINDOW_S
    assert words(text) == ["ten", "of", "clubs"]


@pytest.mark.real_speech
def test_coughs_and_silence_go_to_the_full_window(
    runtime: SpeechRuntime, real_speech_dir: Path
) -> None:
    """Where the short window is unsure (no speech, a low log-probability), the full window's
    own rules decide, as they did before the short window."""
    engine = runtime.whisper
    folder = vocal_sounds.beside(real_speech_dir)
    assert folder is not None, "no coughs and laughs here: run scripts/fetch-real-speech.sh"
    cough = as_heard(vocal_sounds.load(folder, "cough-default"))
    silence = np.zeros(16_000, dtype=np.float32)

    def both(audio: np.ndarray) -> tuple[Transcript, Transcript]:
        return (
            engine.transcribe(audio, language="en", beam_size=2),
            engine.transcribe(audio, language="en", beam_size=2, window_s=12.0),
        )

    for audio in (cough, silence):
        full, short = engine.executor.submit(both, audio).result()
        assert short.window_s == FULL_WINDOW_S
    # the cough's text is not compared: faster-whisper retries a clip this unsure at higher
    # temperatures, which sample, so two runs of the full window differ on it too
    assert short.text == full.text == ""


@pytest.mark.real_speech
def test_an_unknown_language_uses_the_full_window(
    runtime: SpeechRuntime, real_speech_dir: Path
) -> None:
    """Language detection reads the full window, so without a language there is no short one."""
    engine = runtime.whisper
    audio = as_heard(real_speech.load(real_speech_dir, "go-forward"))
    t = engine.executor.submit(
        engine.transcribe, audio, language=None, beam_size=2, window_s=12.0
    ).result()
    assert t.window_s == FULL_WINDOW_S
    assert words(t.text) == ["go", "forward", "ten", "meters"]
