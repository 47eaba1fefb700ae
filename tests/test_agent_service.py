"""``voice-sidecar agent`` as a service: the LiveKit secret from a file, JSON log lines."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from voice_sidecar.commands.agent_cmd import _secret_file
from voice_sidecar.errors import UserFacingError
from voice_sidecar.log import JsonFormatter


def test_the_secret_comes_from_the_file_without_its_line_end(tmp_path: Path) -> None:
    path = tmp_path / "livekit_secret"
    path.write_text("s" * 40 + "\n")
    assert _secret_file(str(path)) == "s" * 40
    assert _secret_file(None) is None


def test_an_unreadable_or_empty_secret_file_is_one_line_naming_the_file_not_the_secret(
    tmp_path: Path,
) -> None:
    with pytest.raises(UserFacingError) as missing:
        _secret_file(str(tmp_path / "absent"))
    assert "LIVEKIT_API_SECRET_FILE names" in str(missing.value)
    assert "No such file" in str(missing.value)
    assert "\n" not in str(missing.value)
    empty = tmp_path / "empty"
    empty.write_text("\n")
    with pytest.raises(UserFacingError, match="is empty"):
        _secret_file(str(empty))


def test_json_log_lines_are_one_object_each_with_the_exception() -> None:
    record = logging.LogRecord(
        "voice_sidecar", logging.WARNING, __file__, 1, "drain: %d open", (2,), None
    )
    line = JsonFormatter().format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["level"] == "warning"
    assert entry["logger"] == "voice_sidecar"
    assert entry["message"] == "drain: 2 open"
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        import sys

        failed = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    assert "RuntimeError: boom" in json.loads(JsonFormatter().format(failed))["exception"]
