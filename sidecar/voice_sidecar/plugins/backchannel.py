"""Backchannels: what a listener says or does during a reply that is not a turn of its own.

"Mm-hm", "uh-huh", "yeah", "okay" alone, a laugh ("ha ha"), or a sound Whisper writes as no
words at all (a cough heard as "" or "(coughs)"). LiveKit Agents 1.8.9 pauses a reply when
the user's audio lasts ``min_duration``, and then takes **any** final transcript as the end of
the reply (``AgentActivity.on_final_transcript`` interrupts the paused speech): so a hummed
"mm" stopped the answer for good. The assistant's STT node drops such a transcript while a
reply is current and asks the framework to resume the paused reply at once (its own false
interruption path, the one it takes after ``false_interruption_timeout`` of silence with no
transcript). "Stop", "wait", "no", a question or anything longer still interrupts.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterable, AsyncIterator
from typing import Any

from livekit.agents import stt

from voice_sidecar.log import logger

MAX_WORDS = 4
"""A backchannel is short: "yeah yeah okay" is, "okay so what about Monday" is not."""

BACKCHANNEL_WORDS = frozenset(
    {
        "mm",
        "mmm",
        "mhm",
        "mmhm",
        "mmhmm",
        "hm",
        "hmm",
        "hmmm",
        "uh",
        "uhhuh",
        "huh",
        "um",
        "ah",
        "ahh",
        "aha",
        "oh",
        "ooh",
        "yeah",
        "yea",
        "yes",
        "yep",
        "yup",
        "right",
        "okay",
        "ok",
        "alright",
        "sure",
        "cool",
        "nice",
        "wow",
        "great",
        "good",
        "i",
        "see",
        "got",
        "it",
        "ha",
        "haha",
        "hahaha",
        "he",
        "hehe",
        "heh",
    }
)
"""Words a backchannel is made of (after ``_words``); "i see" and "got it" too. Never in it:
"stop", "wait", "no", "hold", "pause", "sorry": they mean the reply should end."""

_ANNOTATION = re.compile(r"[\(\[\*][^\)\]\*]*[\)\]\*]")
"""Whisper's notes for sounds that are not words: "(coughs)", "[laughter]", "*sigh*"."""
_LAUGHTER = re.compile(r"^(?:mw)?a?(?:h[aeiou]h?)+$")
"""One word of laughter as Whisper spells it: "haha", "hahahaha", "hehe", "ahah", "mwahaha"."""


def _words(text: str) -> list[str]:
    text = _ANNOTATION.sub(" ", text.lower())
    # "mm-hm", "uh-huh" and "ha-ha" are one backchannel each; other punctuation separates
    text = re.sub(r"(?<=\w)-(?=\w)", "", text)
    return re.findall(r"[a-z']+", text.replace("'", ""))


def is_backchannel(text: str) -> bool:
    """Whether a transcript heard during a reply is a backchannel or no words at all."""
    if "?" in _ANNOTATION.sub(" ", text):
        return False  # "yeah?" or "okay?" asks something
    words = _words(text)
    if all(_LAUGHTER.match(w) for w in words):
        return True  # laughter, however long Whisper writes it ("ha ha ha ha ha ha ha ha")
    if len(words) > MAX_WORDS:
        return False
    return all(w in BACKCHANNEL_WORDS or _LAUGHTER.match(w) for w in words)


def reply_in_progress(session: Any) -> bool:
    """A reply is being spoken or is paused by the user's sound (``AgentSession.current_speech``,
    public): what the transcript would interrupt."""
    speech = session.current_speech
    return bool(speech is not None and not speech.interrupted and speech.allow_interruptions)


def resume_paused_reply(activity: Any) -> bool:
    """Ask LiveKit Agents to resume the reply it paused for the sound, now rather than after
    ``false_interruption_timeout``: its own false-interruption timer, started with no wait.

    Private API of livekit-agents 1.8.9 (``AgentActivity._paused_speech``,
    ``_start_false_interruption_timer``), used only behind this guard;
    ``tests/test_backchannel.py`` fails when the framework no longer has them. Without them
    the reply still resumes, after the timeout."""
    start = getattr(activity, "_start_false_interruption_timer", None)
    if not callable(start) or not hasattr(activity, "_paused_speech"):
        logger.debug("backchannel: the framework has no false-interruption timer to start")
        return False
    if activity._paused_speech is None:
        return False
    start(0.0)
    return True


def is_final_backchannel(event: stt.SpeechEvent) -> bool:
    """A final (or interim/preflight) transcript whose text is a backchannel."""
    if event.type not in (
        stt.SpeechEventType.FINAL_TRANSCRIPT,
        stt.SpeechEventType.INTERIM_TRANSCRIPT,
        stt.SpeechEventType.PREFLIGHT_TRANSCRIPT,
    ):
        return False
    text = event.alternatives[0].text if event.alternatives else ""
    return is_backchannel(text)


async def without_backchannels(
    agent: Any, events: AsyncIterable[stt.SpeechEvent | str]
) -> AsyncIterator[stt.SpeechEvent | str]:
    """The agent's STT events, less the backchannels heard while a reply is in progress (each
    dropped final transcript resumes the paused reply at once)."""
    async for event in events:
        if (
            isinstance(event, stt.SpeechEvent)
            and is_final_backchannel(event)
            and reply_in_progress(agent.session)
        ):
            if event.type is stt.SpeechEventType.FINAL_TRANSCRIPT:
                resumed = resume_paused_reply(getattr(agent, "_activity", None))
                logger.info(
                    "backchannel during the reply, not a turn%s", ": resumed" if resumed else ""
                )
            continue
        yield event
