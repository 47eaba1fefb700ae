"""The ``voice-sidecar`` command as a user runs it: a real process, real files, real HTTP."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import wave
from pathlib import Path

import pytest

from voice_sidecar.testing.llm_server import FakeLlmServer

from .conftest import SpeechFiles


def _run(
    *args: str, timeout: float = 180, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "voice_sidecar", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env or dict(os.environ),
        check=False,
    )


def _assert_one_line_error(
    proc: subprocess.CompletedProcess[str], code: int, fragment: str
) -> None:
    assert proc.returncode == code, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert lines, "no error message"
    assert lines[-1].startswith("voice-sidecar: error: ")
    assert fragment in lines[-1]
    assert "Traceback" not in proc.stderr


def test_version() -> None:
    proc = _run("--version")
    assert proc.returncode == 0
    assert proc.stdout.startswith("voice-sidecar ")


def test_transcribe_json(speech: SpeechFiles) -> None:
    path = speech("Remind me to call my mother tonight.")
    proc = _run("transcribe", str(path), "--stt-model", "tiny.en", "--json")
    assert proc.returncode == 0, proc.stderr
    (item,) = json.loads(proc.stdout)
    assert item["file"] == str(path)
    assert {"call", "mother"} <= {w.strip(".,").lower() for w in item["text"].split()}
    assert item["seconds"] > 0


def test_transcribe_text_names_model_and_device(speech: SpeechFiles) -> None:
    proc = _run("transcribe", str(speech("Hello there.")), "--stt-model", "tiny.en")
    assert proc.returncode == 0, proc.stderr
    assert "model tiny.en on cpu/int8" in proc.stdout


@pytest.mark.slow
def test_converse_json_and_output_wav(
    speech: SpeechFiles, llm_server: FakeLlmServer, tmp_path: Path
) -> None:
    out = tmp_path / "agent.wav"
    proc = _run(
        "converse",
        str(speech("What is the capital of France?")),
        "--json",
        "--out",
        str(out),
        "--stt-model",
        "tiny.en",
        "--llm-base-url",
        llm_server.base_url,
        "--llm-model",
        "fake-model",
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    (turn,) = report["turns"]
    assert "france" in turn["user_transcript"].lower()
    assert turn["agent_text"].startswith("You said:")
    assert turn["interrupted"] is False
    assert 0 < turn["first_audio_latency_s"] < 5
    assert set(turn["breakdown"]) == {
        "end_of_turn_s",
        "stt_s",
        "llm_ttft_s",
        "llm_first_sentence_s",
        "tts_ttfb_s",
    }
    assert report["stt"] == {"model": "tiny.en", "device": "cpu", "compute_type": "int8"}
    with wave.open(str(out)) as wav:
        assert wav.getframerate() == 22_050
        assert wav.getnframes() / 22_050 > turn["speech_end_s"]


@pytest.mark.slow
def test_converse_barge_in_text_report(speech: SpeechFiles, llm_server: FakeLlmServer) -> None:
    llm_server.behaviour.replies = [
        "Let me tell you a long story. Once upon a time there was a small robot. "
        "It lived in a quiet workshop and dreamed of the sea. "
        "Every night it listened to the waves.",
        "Sure, I will be quiet.",
    ]
    proc = _run(
        "converse",
        str(speech("Tell me a story.")),
        str(speech("Please stop talking.")),
        "--barge-in-after",
        "1.0",
        "--stt-model",
        "tiny.en",
        "--llm-base-url",
        llm_server.base_url,
    )
    assert proc.returncode == 0, proc.stderr
    assert "[interrupted]" in proc.stdout
    assert "barge-in silenced the agent after" in proc.stdout
    assert "Sure, I will be quiet." in proc.stdout


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_non_audio_input_is_refused(tmp_path: Path) -> None:
    bogus = tmp_path / "notes.wav"
    bogus.write_text("this is not audio\n" * 50)
    _assert_one_line_error(_run("transcribe", str(bogus)), 2, "not an audio file")


def test_missing_input_is_refused(tmp_path: Path) -> None:
    _assert_one_line_error(
        _run("converse", str(tmp_path / "nope.wav"), "--llm-base-url", "http://127.0.0.1:9/v1"),
        2,
        "does not exist",
    )


def test_missing_model_path_is_refused(speech: SpeechFiles, tmp_path: Path) -> None:
    _assert_one_line_error(
        _run("transcribe", str(speech("Hello there.")), "--stt-model", str(tmp_path / "no-model")),
        2,
        "does not exist",
    )


def test_unreachable_llm_is_refused(speech: SpeechFiles) -> None:
    port = _closed_port()
    _assert_one_line_error(
        _run(
            "converse",
            str(speech("Hello there.")),
            "--llm-base-url",
            f"http://127.0.0.1:{port}/v1",
        ),
        3,
        f"cannot reach the LLM at 127.0.0.1:{port}",
    )


@pytest.mark.parametrize(
    ("persona", "fragment"),
    [
        ('{"name": 42}', "persona.name must be a string"),
        ('{"version": 7}', "version 7 is not supported"),
        ("{not json", "not valid JSON"),
        ("/no/such/persona.json", "cannot read persona file"),
    ],
)
def test_invalid_persona_is_refused(speech: SpeechFiles, persona: str, fragment: str) -> None:
    _assert_one_line_error(
        _run(
            "converse",
            str(speech("Hello there.")),
            "--persona",
            persona,
            "--llm-base-url",
            "http://127.0.0.1:9/v1",
        ),
        2,
        fragment,
    )


def test_invalid_option_value_is_refused(speech: SpeechFiles) -> None:
    _assert_one_line_error(
        _run("converse", str(speech("Hello there.")), "--speaking-rate", "9"),
        2,
        "speaking_rate must be between",
    )


def test_wrong_api_key_is_refused_without_echoing_it(
    speech: SpeechFiles, llm_server: FakeLlmServer
) -> None:
    llm_server.behaviour.required_api_key = "the-right-key"
    env = dict(os.environ, VOICE_SIDECAR_LLM_API_KEY="sk-wrong-secret-123")
    proc = _run(
        "converse", str(speech("Hello there.")), "--llm-base-url", llm_server.base_url, env=env
    )
    _assert_one_line_error(proc, 3, "rejected the API key")
    assert "sk-wrong-secret-123" not in proc.stderr + proc.stdout


def test_with_logging_file_every_line_is_written_once(tmp_path: Path) -> None:
    """Issue 15.9: with logging.file set, the CLI and `up` each added a handler for the file
    (every line twice), and `up`'s agent wrote the file itself as well (three times)."""
    import logging

    from voice_sidecar.cli import configure_logging
    from voice_sidecar.log import add_file_handler
    from voice_sidecar.redaction import Redactor
    from voice_sidecar.settings import LoggingSettings

    path = tmp_path / "log" / "voice-sidecar.log"
    root = logging.getLogger()
    saved = list(root.handlers), root.level
    try:
        configure_logging(LoggingSettings(level="info", file=str(path)), Redactor())
        add_file_handler(path, level=logging.INFO, rotate=True)  # what `up` does
        logging.getLogger("voice_sidecar").warning("one line, once")
        for handler in root.handlers:
            handler.flush()
        assert path.read_text(encoding="utf-8").count("one line, once") == 1
    finally:
        for handler in root.handlers:
            if handler not in saved[0]:
                handler.close()
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])


def test_a_supervised_child_leaves_the_log_file_to_its_supervisor(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    path = tmp_path / "child.log"
    env = {**os.environ, "VOICE_SIDECAR_SUPERVISED": "1"}
    subprocess.run(
        [sys.executable, "-m", "voice_sidecar", "--set", f"logging.file={path}", "config", "show"],
        env=env,
        capture_output=True,
        check=True,
        timeout=60,
    )
    assert not path.exists()
