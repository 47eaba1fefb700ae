"""The languages Whisper recognises, checked wherever a language code comes in (settings,
``--language``, a persona), so that a wrong code is one line at the start, not a traceback
from the model in the middle of a run."""

from __future__ import annotations

import difflib

# faster_whisper.tokenizer._LANGUAGE_CODES (faster-whisper 1.2); tests/test_languages.py
# holds this list to the installed library
WHISPER_LANGUAGES = [
    "af",
    "am",
    "ar",
    "as",
    "az",
    "ba",
    "be",
    "bg",
    "bn",
    "bo",
    "br",
    "bs",
    "ca",
    "cs",
    "cy",
    "da",
    "de",
    "el",
    "en",
    "es",
    "et",
    "eu",
    "fa",
    "fi",
    "fo",
    "fr",
    "gl",
    "gu",
    "ha",
    "haw",
    "he",
    "hi",
    "hr",
    "ht",
    "hu",
    "hy",
    "id",
    "is",
    "it",
    "ja",
    "jw",
    "ka",
    "kk",
    "km",
    "kn",
    "ko",
    "la",
    "lb",
    "ln",
    "lo",
    "lt",
    "lv",
    "mg",
    "mi",
    "mk",
    "ml",
    "mn",
    "mr",
    "ms",
    "mt",
    "my",
    "ne",
    "nl",
    "nn",
    "no",
    "oc",
    "pa",
    "pl",
    "ps",
    "pt",
    "ro",
    "ru",
    "sa",
    "sd",
    "si",
    "sk",
    "sl",
    "sn",
    "so",
    "sq",
    "sr",
    "su",
    "sv",
    "sw",
    "ta",
    "te",
    "tg",
    "th",
    "tk",
    "tl",
    "tr",
    "tt",
    "uk",
    "ur",
    "uz",
    "vi",
    "yi",
    "yo",
    "zh",
    "yue",
]


def normalise_language(code: str) -> str:
    """The Whisper code for ``code`` (``en``, ``EN``, ``en-US`` and ``en_GB`` give ``en``);
    ``ValueError`` naming the nearest known codes otherwise."""
    given = code.strip().lower()
    if given in WHISPER_LANGUAGES:
        return given
    primary = given.replace("_", "-").split("-", 1)[0]
    if primary in WHISPER_LANGUAGES:
        return primary
    shown = code if len(code) <= 20 else code[:17] + "..."
    near = difflib.get_close_matches(primary, WHISPER_LANGUAGES, n=3, cutoff=0.5)
    hint = f"; did you mean {' or '.join(near)}?" if near else ""
    raise ValueError(
        f"{shown!r} is not a language Whisper knows{hint} "
        "(ISO 639-1 codes such as en, de, fr, es, ja)"
    )
