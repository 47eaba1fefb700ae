"""A text end-of-turn gate: does the user's transcript so far read as a finished turn?

LiveKit Agents 1.8.9 asks a turn detector (``turn_detection=`` an object with
``predict_end_of_turn``) once the VAD has heard the turn's silence and a final transcript
is there. Below ``unlikely_threshold`` the framework waits ``max_endpointing_delay``
before committing the turn, otherwise ``min_endpointing_delay``; speech resuming in the
wait cancels it and the turn goes on. So a sentence that stops on "to", "and", "is", a
comma or an "um" gets the long wait, and one that reads as complete the short one.

The judgement is text alone, from the last word and the last punctuation mark: audio
end-of-turn models did not separate finished turns from halting halves on the real
recordings (docs/benchmarks.md, "Issue 14"), while a half ending "selfish is" plainly
reads as unfinished. A fragment that ends on a content word ("Go forward") reads as
finished: the gate cannot catch it, and the VAD's silence alone decides it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from livekit.agents import llm
from livekit.agents.language import LanguageCode

FINISHED = 0.95
"""Probability given to a transcript that ends on terminal punctuation."""

OPEN = 0.75
"""Probability given to one that ends on a content word without punctuation."""

UNFINISHED = 0.05
"""Probability given to one that ends on a function word, a comma, a dash or a filler
(or is empty)."""

UNLIKELY_THRESHOLD = 0.5


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_ALWAYS_OPEN = _words(
    """
    a an the my your his her its our their whose every
    and but or nor because although unless whereas if whether than
    of
    """
)
"""Words no finished English turn ends on: articles and possessive determiners,
conjunctions, "of"."""

_OPEN_UNLESS_ASKED = _words(
    """
    to with from into onto for at between during without against toward towards upon
    among via per like as so very such not
    is are was were be been being am do does did have has had
    can could will would shall should may might must
    i we they he she let's i'm you're we're they're he's she's there's
    i've you've we've they've i'll you'll we'll they'll i'd you'd we'd they'd
    """
)
"""Words a turn rarely ends on unless it is a short question ("Can you?", "What for?"):
prepositions, auxiliaries and modals, subject pronouns. Particles that often end a
turn ("turn it on", "it's over", "come in") and object pronouns ("do it") are in
neither list."""

_AUXILIARIES = _words(
    """
    is are was were be been am do does did have has had
    can could will would shall should may might must
    """
)
_SUBJECTS = _words("i you he she it we they there that who this")
"""An auxiliary right after one of these ends an elliptical but finished sentence
("than he was.", "Yes, I do.", "I think we can."), when punctuation closes it."""

_FILLERS = _words("um uh erm er hmm mm ah uhm umm")
"""Hesitation sounds: a speaker who says one is still thinking."""

_LAST_TWO_WORDS = re.compile(r"(?:([a-z']+)[^a-z']+)?([a-z']+)[^a-z']*$")
_OPEN_PUNCTUATION = re.compile(r"(,|;|:|\.\.\.|…|-|–|—)\s*$")
_ASKED = re.compile(r"[?!]['\")\]]*\s*$")
_TERMINAL_PUNCTUATION = re.compile(r"[.?!]['\")\]]*\s*$")


def end_of_turn_probability(text: str) -> float:
    """How finished ``text`` reads as a spoken turn (see the module's constants)."""
    stripped = text.strip().lower()
    if not stripped:
        return UNFINISHED
    if _OPEN_PUNCTUATION.search(stripped):
        return UNFINISHED
    match = _LAST_TWO_WORDS.search(stripped)
    if match is None:
        return OPEN
    before, last = (match.group(1) or "").strip("'"), match.group(2).strip("'")
    if last in _ALWAYS_OPEN or last in _FILLERS:
        return UNFINISHED
    closed = _TERMINAL_PUNCTUATION.search(stripped) is not None
    asked = _ASKED.search(stripped) is not None
    elliptical = closed and last in _AUXILIARIES and before in _SUBJECTS
    if last in _OPEN_UNLESS_ASKED and not (asked or elliptical):
        return UNFINISHED
    if closed:
        return FINISHED
    return OPEN


def last_user_text(chat_ctx: llm.ChatContext) -> str:
    """The text of the last user message: the turn the framework is deciding on."""
    for item in reversed(chat_ctx.items):
        if item.type == "message" and item.role == "user":
            return item.text_content or ""
    return ""


@dataclass(frozen=True)
class TextTurnDetector:
    """A LiveKit Agents turn detector that scores the transcript's last words."""

    @property
    def model(self) -> str:
        return "text-gate"

    @property
    def provider(self) -> str:
        return "voice-sidecar"

    async def unlikely_threshold(self, language: LanguageCode | None) -> float | None:
        return UNLIKELY_THRESHOLD

    async def supports_language(self, language: LanguageCode | None) -> bool:
        """English only: the word lists are English (no language known: assume English)."""
        return language is None or str(language).lower().startswith("en")

    async def predict_end_of_turn(
        self,
        chat_ctx: llm.ChatContext,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 - the framework's protocol; instant here
    ) -> float:
        return end_of_turn_probability(last_user_text(chat_ctx))
