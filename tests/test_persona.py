import json
import logging

import pytest

from voice_sidecar.errors import PersonaError
from voice_sidecar.persona import (
    MAX_HISTORY_MESSAGES,
    Persona,
    parse_persona,
    parse_session_request,
    session_request_from_metadata,
)


def test_full_request_is_parsed() -> None:
    request = parse_session_request(
        json.dumps(
            {
                "version": 1,
                "persona": {
                    "name": "Ada",
                    "instructions": "Be brief.",
                    "voice": "en_US-joe-medium",
                    "language": "en",
                },
                "history": [
                    {"role": "user", "text": "Hi"},
                    {"role": "assistant", "text": "Hello!"},
                ],
            }
        )
    )
    assert request.persona == Persona(
        name="Ada", instructions="Be brief.", voice="en_US-joe-medium", language="en"
    )
    assert [(m.role, m.text) for m in request.history] == [("user", "Hi"), ("assistant", "Hello!")]


def test_missing_keys_keep_defaults() -> None:
    defaults = Persona(name="Default", language="de")
    persona = parse_persona({"instructions": "Talk like a pirate."}, defaults=defaults)
    assert persona.name == "Default"
    assert persona.language == "de"
    assert persona.instructions == "Talk like a pirate."


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ("not json", "not valid JSON"),
        ("[]", "must be a JSON object"),
        ({"persona": {}}, "version None is not supported"),
        ({"version": 2}, "version 2 is not supported"),
        ({"version": 1, "extra": 1}, "unknown keys: extra"),
        ({"version": 1, "persona": "Ada"}, "persona must be a JSON object"),
        ({"version": 1, "persona": {"name": 5}}, "persona.name must be a string"),
        ({"version": 1, "persona": {"name": "  "}}, "persona.name must not be empty"),
        ({"version": 1, "persona": {"name": "x" * 65}}, "the limit is 64"),
        ({"version": 1, "persona": {"language": "en; rm"}}, "not a language Whisper knows"),
        ({"version": 1, "persona": {"mood": "happy"}}, "unknown keys: mood"),
        ({"version": 1, "history": {}}, "history must be a list"),
        ({"version": 1, "history": [{"role": "system", "text": "x"}]}, "history[0].role"),
        ({"version": 1, "history": [{"role": "user"}]}, "history[0].text must be a string"),
    ],
)
def test_malformed_requests_name_the_problem(payload: object, message: str) -> None:
    raw = payload if isinstance(payload, str) else json.dumps(payload)
    with pytest.raises(PersonaError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_session_request(raw)


def test_history_is_bounded_to_the_most_recent_messages() -> None:
    history = [{"role": "user", "text": f"message {i}"} for i in range(MAX_HISTORY_MESSAGES + 5)]
    request = parse_session_request({"version": 1, "history": history})
    assert len(request.history) == MAX_HISTORY_MESSAGES
    assert request.history[-1].text == f"message {MAX_HISTORY_MESSAGES + 4}"
    assert request.history[0].text == "message 5"


@pytest.mark.parametrize("raw", [None, "", b"  ", "{broken", '{"version": 9}'])
def test_malformed_metadata_falls_back_to_defaults(
    raw: str | bytes | None, caplog: pytest.LogCaptureFixture
) -> None:
    defaults = Persona(name="Fallback")
    with caplog.at_level(logging.WARNING, logger="voice_sidecar"):
        request = session_request_from_metadata(raw, defaults=defaults)
    assert request.persona == defaults
    assert request.history == ()
    if raw in ("{broken", '{"version": 9}'):
        assert "malformed session metadata" in caplog.text


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("[" * 20_000 + "]" * 20_000, "nests 20000 levels deep"),
        ('{"version": 1, "history": ' + "[" * 5_000 + "]" * 5_000 + "}", "nests 5001 levels"),
        ('{"version": ' + "9" * 5_000 + "}", "a number has 5000 characters"),
        ('{"version": 1, "persona": {"name": "' + "x" * 200_000 + '"}}', "bytes; at most"),
        ('{"version": NaN}', "NaN is not JSON"),
        ('{"version": true}', "version True is not supported"),
    ],
)
def test_hostile_metadata_falls_back_instead_of_crashing_the_agent(
    raw: str, reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 15.4: deeply nested room or dispatch metadata raised RecursionError in the agent's
    parser (a 5,000-digit number raised ValueError); now depth, size and numbers are bounded
    before parsing, and the agent keeps its default persona with one warning."""
    defaults = Persona(name="Fallback")
    with caplog.at_level(logging.WARNING, logger="voice_sidecar"):
        request = session_request_from_metadata(raw, defaults=defaults)
    assert request.persona == defaults
    assert reason in caplog.text
    assert len(caplog.records[-1].getMessage()) < 300


def test_brackets_inside_text_do_not_count_as_nesting() -> None:
    text = "[" * 100 + ' "]]] {{{" '
    request = parse_session_request({"version": 1, "history": [{"role": "user", "text": text}]})
    assert request.history[0].text == text.strip()
    again = parse_session_request(json.dumps({"version": 1, "persona": {"instructions": text}}))
    assert again.persona.instructions == text.strip()
