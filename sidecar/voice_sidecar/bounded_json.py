"""JSON from outside (control API bodies, room and dispatch metadata), bounded before parsing.

``json.loads`` recurses once per nesting level and hands every integer literal to ``int()``:
a 20,000-deep array raises ``RecursionError`` and a 5,000-digit integer ``ValueError``
(Python's 4,300-digit limit), neither of which is a ``JSONDecodeError``. ``loads_bounded``
checks size and depth on the raw text first and bounds every number while parsing, so that
any input either parses or raises ``BadJsonError`` with one line saying why.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import NoReturn

MAX_DEPTH = 32
"""Deepest nesting of arrays and objects accepted; every document we read needs 4."""
MAX_NUMBER_CHARS = 40
"""Longest number literal accepted (digits, sign, fraction and exponent)."""

# a JSON string: its quotes and escapes, so that brackets inside text are not counted
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"?', re.DOTALL)
_BRACKET = re.compile(r"[\[\]{}]")


class BadJsonError(ValueError):
    """Not JSON, or JSON beyond the limits; ``str()`` is one line for the sender."""


def nesting_depth(text: str) -> int:
    """How deeply arrays and objects nest in ``text`` (JSON or not); strings are skipped."""
    depth = deepest = 0
    for match in _BRACKET.finditer(_STRING.sub('""', text)):
        if match.group() in "[{":
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth = max(depth - 1, 0)
    return deepest


def _number(kind: type[int] | type[float]) -> Callable[[str], int | float]:
    def parse(literal: str) -> int | float:
        if len(literal) > MAX_NUMBER_CHARS:
            raise BadJsonError(
                f"a number has {len(literal)} characters; at most {MAX_NUMBER_CHARS} are accepted"
            )
        return kind(literal)

    return parse


def _no_constant(name: str) -> NoReturn:
    raise BadJsonError(f"{name} is not JSON")


def loads_bounded(raw: str | bytes, *, max_bytes: int, max_depth: int = MAX_DEPTH) -> object:
    """Parse ``raw`` (UTF-8 if bytes) or raise ``BadJsonError``; never anything else."""
    size = len(raw) if isinstance(raw, bytes) else len(raw.encode("utf-8", "surrogatepass"))
    if size > max_bytes:
        raise BadJsonError(f"the JSON is {size} bytes; at most {max_bytes} are accepted")
    if isinstance(raw, bytes):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise BadJsonError("the JSON is not valid UTF-8") from None
    else:
        text = raw
    depth = nesting_depth(text)
    if depth > max_depth:
        raise BadJsonError(f"the JSON nests {depth} levels deep; at most {max_depth} are accepted")
    try:
        return json.loads(
            text,
            parse_int=_number(int),
            parse_float=_number(float),
            parse_constant=_no_constant,
        )
    except json.JSONDecodeError as exc:
        raise BadJsonError(
            f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except RecursionError:  # unreachable below max_depth; kept so the promise holds regardless
        raise BadJsonError("the JSON nests too deeply") from None
