"""The spoken turns the benchmark plays: made by the harness itself with Piper (synthetic), and
recordings of real people (``real_speech``)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from voice_sidecar.audio_files import SPEECH_SAMPLE_RATE, FloatAudio
from voice_sidecar.converse.runner import Utterance
from voice_sidecar.converse.speech_span import find_speech_span
from voice_sidecar.plugins.piper import PiperEngine
from voice_sidecar.plugins.whisper import frames_to_speech

from . import real_speech, vocal_sounds

SYNTHETIC = "synthetic"
REAL = "real"
SPEECH_KINDS = (SYNTHETIC, REAL)

SHORT_REPLY = "Sure, here is a quick answer for you."
LONG_REPLY = (
    "Here is a longer answer, so that you have time to interrupt me. "
    "The first thing to know is that the weather will change during the week. "
    "On Monday it stays dry and mild, with a light wind from the west. "
    "From Wednesday on, clouds come in and it may rain in the afternoon. "
    "By the weekend it clears up again and it gets warmer. Anything else?"
)


@dataclass(frozen=True)
class Scenario:
    name: str
    turns: tuple[Utterance, ...]
    reply: str
    barge_in_after_s: float | None = None
    noise_dbfs: float | None = None
    pause_turns: bool = False
    """Each turn holds a pause mid-sentence: a reply before its end is a cut-off."""
    tags: tuple[str, ...] = field(default_factory=tuple)
    speech: str = SYNTHETIC
    """``real`` (recordings of people) or ``synthetic`` (Piper): every figure is split by it."""
    pauses_s: tuple[float, ...] = ()
    """With ``pause_turns``: each turn's pause (the cut-off curve's x axis)."""
    watch_s: float = 3.0
    """After a last utterance with no speech in it, how long to watch the reply go on."""


Speak = Callable[[str], FloatAudio]


def piper_speaker(engine: PiperEngine) -> Speak:
    def speak(text: str) -> FloatAudio:
        from livekit import rtc

        pcm = b"".join(engine.synthesize_chunks(text, length_scale=None, stop=threading.Event()))
        frame = rtc.AudioFrame(pcm, engine.sample_rate, 1, len(pcm) // 2)
        return frames_to_speech(frame)

    return speak


def _silence(seconds: float) -> FloatAudio:
    return np.zeros(int(SPEECH_SAMPLE_RATE * seconds), dtype=np.float32)


def _trimmed(audio: FloatAudio) -> FloatAudio:
    """Without the quiet Piper leaves before and after speech, so a pause is exactly as long
    as the scenario says."""
    span = find_speech_span(audio, SPEECH_SAMPLE_RATE)
    return audio[int(span.start_s * SPEECH_SAMPLE_RATE) : int(span.end_s * SPEECH_SAMPLE_RATE)]


def _with_pause(speak: Speak, first: str, second: str, pause_s: float) -> FloatAudio:
    return np.concatenate(
        [_silence(0.2), _trimmed(speak(first)), _silence(pause_s), _trimmed(speak(second))]
    ).astype(np.float32)


def noise_bursts(seed: int = 9) -> FloatAudio:
    """Sounds that are not speech, as a desk makes them: a hiss, a clatter of clicks, a thud
    and a rumble, each loud (-20 to -12 dBFS) and 0.3 to 0.8 s long."""
    rng = np.random.default_rng(seed)
    rate = SPEECH_SAMPLE_RATE

    def hiss(seconds: float, dbfs: float) -> FloatAudio:
        return (rng.normal(0.0, 10 ** (dbfs / 20), int(rate * seconds))).astype(np.float32)

    def clicks(seconds: float, dbfs: float, every_s: float) -> FloatAudio:
        out = np.zeros(int(rate * seconds), dtype=np.float32)
        click = hiss(0.004, dbfs) * np.hanning(int(rate * 0.004)).astype(np.float32)
        for start in range(0, len(out) - len(click), int(rate * every_s)):
            out[start : start + len(click)] += click
        return out

    def rumble(seconds: float, dbfs: float) -> FloatAudio:
        brown = np.cumsum(rng.normal(0.0, 1.0, int(rate * seconds)))
        brown -= np.convolve(brown, np.ones(400) / 400, mode="same")
        brown /= np.abs(brown).max() or 1.0
        return (brown * 10 ** (dbfs / 20)).astype(np.float32)

    def thud(seconds: float, dbfs: float) -> FloatAudio:
        t = np.arange(int(rate * seconds)) / rate
        return (np.sin(2 * np.pi * 70 * t) * np.exp(-t * 12) * 10 ** (dbfs / 20)).astype(np.float32)

    return np.concatenate(
        [
            hiss(0.4, -20.0),
            _silence(0.4),
            clicks(0.8, -12.0, 0.09),
            _silence(0.4),
            thud(0.3, -12.0),
            _silence(0.3),
            rumble(0.8, -18.0),
        ]
    ).astype(np.float32)


def build_scenarios(
    speak: Speak, real_speech_dir: Path | None = None, vocal_sounds_dir: Path | None = None
) -> list[Scenario]:
    """The synthetic scenarios, then (with ``real_speech_dir``) the real ones, and (with
    ``vocal_sounds_dir`` too) the real coughs, laughs and hums over a reply."""
    scenarios = synthetic_scenarios(speak)
    if real_speech_dir is not None:
        scenarios += real_scenarios(real_speech_dir)
        if vocal_sounds_dir is not None:
            scenarios += real_sounds_over_reply(real_speech_dir, vocal_sounds_dir)
    return scenarios


OVER_REPLY = "over reply: "
"""The name's start of the scenarios that play a sound 1 s into a long reply: the reply may
pause, and must resume (a backchannel, a cough, a laugh) or stop (a real interruption)."""
OVER_REPLY_WATCH_S = 30.0
"""The longest wait for the reply under the sound to end (it is watched to its end, so the
history holds what became of it)."""


def over_reply(name: str, question: Utterance, sound: Utterance, speech: str) -> Scenario:
    """``sound`` 1 s into the long reply to ``question``; it is no turn of its own
    (``noise_only``: any stop of the reply that does not resume counts against it)."""
    return Scenario(
        OVER_REPLY + name,
        (question, Utterance(name=sound.name, samples=sound.samples, noise_only=True)),
        LONG_REPLY,
        barge_in_after_s=1.0,
        speech=speech,
        watch_s=OVER_REPLY_WATCH_S,
    )


def real_sounds_over_reply(speech_dir: Path, sounds_dir: Path) -> list[Scenario]:
    """Each real cough, laugh and "mm" 1 s into a reply to a real question, and real speech
    talking over the reply (that one must stop it: the barge-in figure beside them)."""
    question = Utterance(name="go-somewhere", samples=real_speech.load(speech_dir, "go-somewhere"))
    scenarios = [
        over_reply(
            f"{sound.name} (real)",
            question,
            Utterance(name=sound.name, samples=vocal_sounds.load(sounds_dir, sound.name)),
            REAL,
        )
        for sound in vocal_sounds.SOUNDS
    ]
    talk_over = Utterance(name="austen-0880", samples=real_speech.load(speech_dir, "austen-0880"))
    scenarios.append(
        Scenario(
            REAL_BARGE_IN, (question, talk_over), LONG_REPLY, barge_in_after_s=1.0, speech=REAL
        )
    )
    return scenarios


REAL_BARGE_IN = "barge-in at 1 s, real speech"
SYNTHETIC_BACKCHANNELS = ("Mm-hm.", "Uh-huh.", "Yeah.", "Okay.")
"""No real recording of these was found in the package registries (docs/licences.md): Piper
says them, to exercise the same path; they are labelled synthetic in every figure."""


def real_scenarios(folder: Path) -> list[Scenario]:
    """Finished short turns, finished long ones, and halting sentences: each cut at a word
    boundary and re-joined with 0.3 to 1.2 s of dead air."""

    def recorded(names: tuple[str, ...]) -> tuple[Utterance, ...]:
        return tuple(Utterance(name=n, samples=real_speech.load(folder, n)) for n in names)

    halting = [
        (cut, pause) for pause in real_speech.HALTING_PAUSES_S for cut in real_speech.HALTING_CUTS
    ]
    return [
        Scenario("real short turns", recorded(real_speech.SHORT_TURNS), SHORT_REPLY, speech=REAL),
        Scenario("real long turns", recorded(real_speech.LONG_TURNS), SHORT_REPLY, speech=REAL),
        Scenario(
            REAL_HALTING,
            tuple(
                Utterance(
                    name=f"{cut.recording} pause {int(pause * 1000)} ms",
                    samples=real_speech.halting(folder, cut, pause),
                )
                for cut, pause in halting
            ),
            SHORT_REPLY,
            pause_turns=True,
            speech=REAL,
            pauses_s=tuple(pause for _, pause in halting),
        ),
    ]


REAL_HALTING = "real halting sentences"


def synthetic_scenarios(speak: Speak) -> list[Scenario]:
    def turn(text: str) -> Utterance:
        return Utterance(name=text, samples=speak(text))

    short = (
        turn("What time is it?"),
        turn("Turn on the kitchen lights."),
        turn("What is the capital of France?"),
    )
    long = (
        turn(
            "I am planning a trip to the mountains next weekend with two friends, "
            "and I would like to know what the weather will be like on Saturday morning."
        ),
        turn(
            "Can you also remind me what I need to pack for a two day hike, "
            "including food, water and some warm clothes for the evening?"
        ),
    )
    pauses = tuple(
        Utterance(
            name=f"pause {int(p * 1000)} ms",
            samples=_with_pause(speak, "I would like to know", "what the weather is tomorrow.", p),
        )
        for p in real_speech.HALTING_PAUSES_S
    )
    barge = (turn("Tell me about the weather this week."), turn("Stop, thank you."))
    scenarios = [
        Scenario("short questions", short, SHORT_REPLY),
        Scenario("long questions", long, SHORT_REPLY),
        Scenario(
            "mid-sentence pauses",
            pauses,
            SHORT_REPLY,
            pause_turns=True,
            pauses_s=real_speech.HALTING_PAUSES_S,
        ),
        Scenario("background noise", short, SHORT_REPLY, noise_dbfs=-45.0),
    ]
    scenarios += [
        Scenario(f"barge-in at {after:g} s", barge, LONG_REPLY, barge_in_after_s=after)
        for after in (0.5, 1.0, 2.0)
    ]
    scenarios += [
        over_reply(f"{text.rstrip('.').lower()} (synthetic)", barge[0], turn(text), SYNTHETIC)
        for text in SYNTHETIC_BACKCHANNELS
    ]
    scenarios.append(
        Scenario(
            NOISE_DURING_REPLY,
            (barge[0], Utterance(name="noise bursts", samples=noise_bursts(), noise_only=True)),
            LONG_REPLY,
            barge_in_after_s=1.0,
        )
    )
    return scenarios


NOISE_DURING_REPLY = "noise during reply"
"""Non-speech sounds 1 s into a reply: any stop of the reply is a false interruption."""


def answers_counted(name: str) -> bool:
    """Whether a scenario's first-audio latencies count in the overall figures (replies
    cut short on purpose, or stopped by design, do not)."""
    return not (
        name.startswith("barge-in") or name == NOISE_DURING_REPLY or name.startswith(OVER_REPLY)
    )
