"""The recordings of real people: fetched whole, decodable, saying what they are said to say."""

from __future__ import annotations

import os
import re
import tarfile
from pathlib import Path

import numpy as np
import pytest

from voice_sidecar.audio_files import SPEECH_SAMPLE_RATE
from voice_sidecar.bench import real_speech
from voice_sidecar.converse.speech_span import find_speech_span
from voice_sidecar.errors import UserFacingError
from voice_sidecar.runtime import SpeechRuntime

from .speech import sounds_like

pytestmark = pytest.mark.real_speech


_SPELLED = {"10": "ten", "7": "seven", "4": "four", "8": "eight", "mr": "mister"}
"""How tiny.en writes what the transcriptions spell out."""


def _heard(runtime: SpeechRuntime, audio: np.typing.NDArray[np.float32]) -> str:
    text = runtime.whisper.transcribe(audio, language="en", beam_size=5).text
    words = re.sub(r"[^a-z0-9' ]+", " ", text.lower()).split()
    return " ".join(_SPELLED.get(word, word) for word in words)


def test_every_recording_decodes_as_speech_of_a_few_seconds(real_speech_dir: Path) -> None:
    for recording in real_speech.RECORDINGS:
        audio = real_speech.load(real_speech_dir, recording.name)
        seconds = len(audio) / SPEECH_SAMPLE_RATE
        assert 0.8 < seconds < 8.0, f"{recording.name}: {seconds:.2f} s"
        peak_dbfs = 20 * np.log10(float(np.abs(audio).max()))
        assert peak_dbfs > -20, f"{recording.name} is nearly silent ({peak_dbfs:.0f} dBFS)"


def test_whisper_hears_what_each_recording_says(
    real_speech_dir: Path, runtime: SpeechRuntime
) -> None:
    """Guards against a wrong member or a wrong raw format (noise reads as nothing like it)."""
    for recording in real_speech.RECORDINGS:
        heard = _heard(runtime, real_speech.load(real_speech_dir, recording.name))
        score = sounds_like(heard, recording.text)
        assert score >= 0.75, f"{recording.name}: heard {heard!r} ({score:.2f})"


def test_each_halting_cut_lies_between_two_words(
    real_speech_dir: Path, runtime: SpeechRuntime
) -> None:
    """Cut mid-word, a half would read as a different word ("somewhere an", "d do")."""
    for cut in real_speech.HALTING_CUTS:
        first, second = real_speech.split(
            real_speech.load(real_speech_dir, cut.recording), cut.cut_s
        )
        for half, words in ((first, cut.first), (second, cut.second)):
            heard = _heard(runtime, half)
            score = sounds_like(heard, words)
            assert score >= 0.75, f"{cut.recording}: heard {heard!r} for {words!r} ({score:.2f})"


def test_a_halting_turn_holds_exactly_its_pause_of_dead_air(real_speech_dir: Path) -> None:
    cut = real_speech.HALTING_CUTS[0]
    short = real_speech.halting(real_speech_dir, cut, 0.3)
    long = real_speech.halting(real_speech_dir, cut, 1.0)
    assert len(long) - len(short) == int(0.7 * SPEECH_SAMPLE_RATE)
    # the longest stretch of silence in the turn is the pause (the lead-in aside)
    window = SPEECH_SAMPLE_RATE // 50
    speech = long[int(0.2 * SPEECH_SAMPLE_RATE) :]
    frames = speech[: len(speech) // window * window].reshape(-1, window)
    quiet = np.abs(frames).max(axis=1) == 0.0
    longest = run = 0
    for is_quiet in quiet:
        run = run + 1 if is_quiet else 0
        longest = max(longest, run)
    assert abs(longest * 0.02 - 1.0) <= 0.04
    span = find_speech_span(long, SPEECH_SAMPLE_RATE)
    assert span.end_s == pytest.approx(len(long) / SPEECH_SAMPLE_RATE, abs=0.04)


def test_the_folder_named_by_the_variable_is_used(real_speech_dir: Path, tmp_path: Path) -> None:
    environ = {real_speech.LOCATION_VARIABLE: str(real_speech_dir)}
    assert real_speech.located(environ, tmp_path) == real_speech_dir
    assert real_speech.located({}, tmp_path) is None


def test_an_archive_that_is_not_the_recorded_one_is_refused(tmp_path: Path) -> None:
    fake = tmp_path / real_speech.SDIST_FILE
    (tmp_path / "goforward.raw").write_bytes(b"\0" * 3200)
    with tarfile.open(fake, "w:gz") as archive:
        archive.add(tmp_path / "goforward.raw", arcname=real_speech.RECORDINGS[0].member)
    with pytest.raises(UserFacingError, match="is not the expected"):
        real_speech.extract(fake, tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.filterwarnings("ignore::ResourceWarning")
def test_an_unreachable_index_is_one_clear_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(real_speech.LOCATION_VARIABLE, raising=False)
    for name, value in {
        "PIP_INDEX_URL": "http://127.0.0.1:9/simple",
        "PIP_RETRIES": "0",
        "PIP_TIMEOUT": "2",
        "PIP_NO_CACHE_DIR": "1",
        "PIP_CONFIG_FILE": os.devnull,
    }.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(UserFacingError, match="could not fetch the real speech") as caught:
        real_speech.ensure(tmp_path)
    assert "\n" not in str(caught.value)


def test_the_turn_model_probe_scores_every_real_turn(real_speech_dir: Path) -> None:
    """The figures of docs/benchmarks.md ("LiveKit's local turn model on real speech") come from
    this probe: the model runs locally (no cloud fallback) on every recording and half."""
    from voice_sidecar.bench.eot_probe import probe, summary_lines

    probes = probe(real_speech_dir, silences_s=(0.35,))
    count = len(real_speech.RECORDINGS) + len(real_speech.HALTING_CUTS)
    assert len(probes) == count
    assert all(0.0 <= p.probability <= 1.0 for p in probes)
    assert sum(not p.finished for p in probes) == len(real_speech.HALTING_CUTS)
    assert summary_lines(probes)[2].startswith("| 0.35 s |")


def test_the_turns_export_as_wavs_the_peer_can_read(real_speech_dir: Path, tmp_path: Path) -> None:
    from voice_sidecar.audio_files import read_speech

    written = real_speech.export_turns(real_speech_dir, tmp_path, (1.0,))
    finished = len(real_speech.SHORT_TURNS) + len(real_speech.LONG_TURNS)
    assert len(written) == finished + len(real_speech.HALTING_CUTS)
    halting = [p for p in written if p.name.startswith("halting-1000ms-")]
    cut = real_speech.HALTING_CUTS[0]
    expected = real_speech.halting(real_speech_dir, cut, 1.0)
    assert np.abs(read_speech(halting[0]) - expected).max() < 1e-3
