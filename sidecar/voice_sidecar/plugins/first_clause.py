"""A sentence tokenizer that hands Piper a reply's first clause, not its first sentence.

Piper is not streaming: the framework's ``tts.StreamAdapter`` waits until the LLM has
written a whole sentence (and the start of the next, or the end of the reply) before
Piper starts. For the first chunk of each reply only, this tokenizer also ends a chunk
at a clause boundary (``, ; : —`` followed by a space) once the clause has at least
``min_words`` words, so the first audio starts while the LLM writes the rest of the
sentence. Later chunks are whole sentences, as before: once audio is playing, Piper
(~0.1 s a sentence) keeps ahead of the speaker anyway.
"""

from __future__ import annotations

import re

from livekit.agents import tokenize
from livekit.agents.tokenize import blingfire, token_stream
from livekit.agents.tokenize.tokenizer import SentenceStream

_CLAUSE_END = re.compile(r"[,;:\u2013\u2014](?=\s+\S)")

Span = tuple[str, int, int]


def first_clause_split(text: str, min_words: int) -> int | None:
    """Where the first clause of ``text`` ends (after its punctuation), or None."""
    for match in _CLAUSE_END.finditer(text):
        if len(text[: match.start()].split()) >= min_words:
            return match.end()
    return None


class _FirstClauseSplitter:
    """Sentence spans, with the first sentence cut at its first long-enough clause until
    one chunk has been handed on. One per stream, i.e. per reply."""

    def __init__(self, sentences: blingfire.SentenceTokenizer, min_words: int) -> None:
        self._sentences = sentences
        self._min_words = min_words
        self._first_done = False

    def __call__(self, text: str) -> list[Span]:
        spans = self._spans(text)
        if len(spans) > 1:
            self._first_done = True  # the stream hands on every span but the last
        return spans

    def _spans(self, text: str) -> list[Span]:
        spans = _sentence_spans(text, self._sentences)
        if self._first_done or not spans:
            return spans
        first, start, end = spans[0]
        cut = first_clause_split(first, self._min_words)
        if cut is None:
            return spans
        return [(first[:cut], start, start + cut), (first[cut:], start + cut, end), *spans[1:]]


def _sentence_spans(text: str, sentences: blingfire.SentenceTokenizer) -> list[Span]:
    """What the framework's own tokenizer cuts (text, start, end), formatting kept."""
    spans = blingfire._split_sentences(text, sentences._config.min_sentence_len, retain_format=True)
    return list(spans)


class FirstClauseTokenizer(tokenize.SentenceTokenizer):
    """The framework's blingfire sentence tokenizer, plus a first-clause cut per reply."""

    def __init__(self, *, min_words: int = 4) -> None:
        self._sentences = blingfire.SentenceTokenizer(retain_format=True)
        self._min_words = min_words

    @property
    def min_words(self) -> int:
        return self._min_words

    def tokenize(self, text: str, *, language: str | None = None) -> list[str]:
        return [span[0] for span in _FirstClauseSplitter(self._sentences, self._min_words)(text)]

    def stream(self, *, language: str | None = None) -> SentenceStream:
        config = self._sentences._config
        return token_stream.BufferedSentenceStream(
            tokenizer=_FirstClauseSplitter(self._sentences, self._min_words),
            min_token_len=config.min_sentence_len,
            min_ctx_len=config.stream_context_len,
        )
