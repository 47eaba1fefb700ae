"""The persona and earlier conversation a session starts with.

They arrive from the desktop app as versioned JSON (agent dispatch or room
metadata, or ``--persona`` on the command line). ``parse_session_request`` is
strict and names the first problem; ``session_request_from_metadata`` is what
a running agent uses: malformed metadata falls back to the defaults with a
warning and never ends the session.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Literal

from .bounded_json import BadJsonError, loads_bounded
from .errors import PersonaError
from .languages import normalise_language
from .log import logger

SCHEMA_VERSION = 1
MAX_NAME_CHARS = 64
MAX_INSTRUCTIONS_CHARS = 8_000
MAX_HISTORY_MESSAGES = 20
MAX_HISTORY_TEXT_CHARS = 2_000
MAX_REQUEST_BYTES = 128 * 1024
"""Largest session request or metadata read (the control API takes bodies up to 64 KiB)."""

DEFAULT_INSTRUCTIONS = (
    "You are a helpful voice assistant running on the user's own computer. "
    "Your replies are spoken aloud, so answer in one to three short sentences of plain "
    "conversational text: no markdown, lists, code, emoji or URLs. "
    "If you did not understand, ask the user to repeat."
)

Role = Literal["user", "assistant"]


@dataclass(frozen=True)
class Persona:
    name: str = "Assistant"
    instructions: str = DEFAULT_INSTRUCTIONS
    voice: str | None = None
    """Piper voice for this persona; None keeps the configured voice."""
    language: str | None = None
    """None keeps the configured speech recognition language."""


@dataclass(frozen=True)
class HistoryMessage:
    role: Role
    text: str


@dataclass(frozen=True)
class SessionRequest:
    persona: Persona = field(default_factory=Persona)
    history: tuple[HistoryMessage, ...] = ()


def _shown(value: object, limit: int = 40) -> str:
    """A value from the sender, quoted for a message and cut to ``limit`` characters."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _keys(names: set[object]) -> str:
    shown = sorted(str(name) if len(str(name)) <= 24 else str(name)[:21] + "..." for name in names)
    return ", ".join(shown[:5]) + (f" and {len(shown) - 5} more" if len(shown) > 5 else "")


def _require_str(obj: Mapping[str, object], key: str, *, where: str, max_chars: int) -> str | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise PersonaError(f"{where}.{key} must be a string, got {type(value).__name__}")
    value = value.strip()
    if not value:
        raise PersonaError(f"{where}.{key} must not be empty")
    if len(value) > max_chars:
        raise PersonaError(f"{where}.{key} is {len(value)} characters; the limit is {max_chars}")
    return value


def parse_persona(obj: object, *, defaults: Persona | None = None) -> Persona:
    """Build a persona from a JSON object; keys left out keep ``defaults``."""
    base = defaults or Persona()
    if not isinstance(obj, Mapping):
        raise PersonaError(f"persona must be a JSON object, got {type(obj).__name__}")
    unknown = set(obj) - {"name", "instructions", "voice", "language"}
    if unknown:
        raise PersonaError(f"persona has unknown keys: {_keys(unknown)}")
    name = _require_str(obj, "name", where="persona", max_chars=MAX_NAME_CHARS)
    instructions = _require_str(
        obj, "instructions", where="persona", max_chars=MAX_INSTRUCTIONS_CHARS
    )
    voice = _require_str(obj, "voice", where="persona", max_chars=512)
    language = _require_str(obj, "language", where="persona", max_chars=16)
    if language is not None:
        try:
            language = normalise_language(language)
        except ValueError as exc:
            raise PersonaError(f"persona.language: {exc}") from None
    return replace(
        base,
        name=name or base.name,
        instructions=instructions or base.instructions,
        voice=voice or base.voice,
        language=language or base.language,
    )


def _parse_history(obj: object) -> tuple[HistoryMessage, ...]:
    if not isinstance(obj, list):
        raise PersonaError(f"history must be a list, got {type(obj).__name__}")
    messages: list[HistoryMessage] = []
    for index, item in enumerate(obj):
        where = f"history[{index}]"
        if not isinstance(item, Mapping):
            raise PersonaError(f"{where} must be an object with role and text")
        role = item.get("role")
        if role not in ("user", "assistant"):
            raise PersonaError(f"{where}.role must be 'user' or 'assistant', got {_shown(role)}")
        text = item.get("text")
        if not isinstance(text, str):
            raise PersonaError(f"{where}.text must be a string")
        text = text.strip()
        if not text:
            continue
        messages.append(HistoryMessage(role=role, text=text[:MAX_HISTORY_TEXT_CHARS]))
    if len(messages) > MAX_HISTORY_MESSAGES:
        logger.info(
            "keeping the last %d of %d history messages", MAX_HISTORY_MESSAGES, len(messages)
        )
    return tuple(messages[-MAX_HISTORY_MESSAGES:])


def parse_session_request(
    raw: str | bytes | Mapping[str, object], *, defaults: Persona | None = None
) -> SessionRequest:
    """Strictly parse a versioned session request; raise PersonaError naming the problem."""
    if isinstance(raw, str | bytes):
        try:
            data: object = loads_bounded(raw, max_bytes=MAX_REQUEST_BYTES)
        except BadJsonError as exc:
            raise PersonaError(f"session request: {exc}") from None
    else:
        data = raw
    if not isinstance(data, Mapping):
        raise PersonaError("session request must be a JSON object")
    version = data.get("version")
    if type(version) is not int or version != SCHEMA_VERSION:  # true == 1 in Python
        raise PersonaError(
            f"session request version {_shown(version)} is not supported; expected {SCHEMA_VERSION}"
        )
    unknown = set(data) - {"version", "persona", "history"}
    if unknown:
        raise PersonaError(f"session request has unknown keys: {_keys(unknown)}")
    persona = parse_persona(data.get("persona", {}), defaults=defaults)
    history = _parse_history(data.get("history", []))
    return SessionRequest(persona=persona, history=history)


def session_request_from_metadata(
    raw: str | bytes | None, *, defaults: Persona | None = None
) -> SessionRequest:
    """Lenient form for a running agent: bad metadata means defaults and a warning."""
    fallback = SessionRequest(persona=defaults or Persona())
    if raw is None or (isinstance(raw, str | bytes) and not raw.strip()):
        return fallback
    try:
        return parse_session_request(raw, defaults=defaults)
    except PersonaError as exc:
        logger.warning("ignoring malformed session metadata, using the default persona: %s", exc)
        return fallback
