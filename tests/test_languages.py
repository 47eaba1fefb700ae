"""Language codes are checked against Whisper's own list, once, at the start."""

from __future__ import annotations

import pytest

from voice_sidecar.languages import WHISPER_LANGUAGES, normalise_language


def test_the_list_is_whispers() -> None:
    from faster_whisper.tokenizer import _LANGUAGE_CODES

    assert tuple(WHISPER_LANGUAGES) == tuple(_LANGUAGE_CODES)


@pytest.mark.parametrize(
    ("given", "code"),
    [("en", "en"), ("EN", "en"), ("en-US", "en"), ("pt_BR", "pt"), ("haw", "haw")],
)
def test_known_codes(given: str, code: str) -> None:
    assert normalise_language(given) == code


@pytest.mark.parametrize(
    ("given", "hint"),
    [("xx", None), ("eng", "did you mean en?"), ("english", None), ("x" * 500, None)],
)
def test_unknown_codes_are_one_line(given: str, hint: str | None) -> None:
    with pytest.raises(ValueError, match="is not a language Whisper knows") as caught:
        normalise_language(given)
    message = str(caught.value)
    assert len(message) < 160
    if hint:
        assert hint in message
