"""Untrusted JSON either parses or raises BadJsonError: never RecursionError or ValueError."""

from __future__ import annotations

import json

import pytest

from voice_sidecar.bounded_json import (
    MAX_DEPTH,
    MAX_NUMBER_CHARS,
    BadJsonError,
    loads_bounded,
    nesting_depth,
)


@pytest.mark.parametrize(
    ("text", "depth"),
    [
        ("1", 0),
        ("[]", 1),
        ('{"a": [1, {"b": []}]}', 4),
        ('["[[[[", "\\"[["]', 1),
        ('"unterminated [[[', 0),
        ("]]]][[", 2),
    ],
)
def test_nesting_depth_skips_strings(text: str, depth: int) -> None:
    assert nesting_depth(text) == depth


@pytest.mark.parametrize(
    "raw",
    [
        "[" * 20_000 + "]" * 20_000,
        b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1),
        "9" * 5_000,
        "-" + "1" * MAX_NUMBER_CHARS,
        "1." + "0" * MAX_NUMBER_CHARS,
        b"\xff\xfe{}",
        "NaN",
        "[Infinity]",
        "{not json",
        "",
        '{"a": 1} trailing',
    ],
)
def test_hostile_documents_raise_one_error_type(raw: str | bytes) -> None:
    with pytest.raises(BadJsonError) as caught:
        loads_bounded(raw, max_bytes=1_000_000)
    assert "\n" not in str(caught.value)
    assert len(str(caught.value)) < 200


def test_size_is_checked_in_bytes() -> None:
    document = json.dumps({"text": "é" * 600}, ensure_ascii=False)
    assert len(document) < 1_000 < len(document.encode())
    with pytest.raises(BadJsonError, match="bytes; at most 1000"):
        loads_bounded(document, max_bytes=1_000)


def test_documents_within_the_limits_parse() -> None:
    nested: object = 1
    for _ in range(MAX_DEPTH - 1):
        nested = [nested]
    document = json.dumps({"n": nested, "big": 10**30, "f": -1.5e-3, "s": "[{"})
    assert loads_bounded(document, max_bytes=10_000) == json.loads(document)
