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
        "end_of_turn_wait_s",
        "stt_inference_s",
        "llm_ttft_s",
        "llm_first_sentence_s",
        "tts_ttfb_s",
    }
    assert report["stt"] == {"model": "tiny.en", "device": "cpu", "compute_type": "int8"}
    # issue 15.17: the end-of-turn wait and Whisper were one number that, with the parts
    # after it, came to more than the total; now each part stands alone, as bench has them.
    # The LLM and Piper parts are not added to them: with the preflight and preemptive TTS
    # (the defaults) the reply is made during the wait, so they overlap it.
    parts = turn["breakdown"]
    assert parts["end_of_turn_wait_s"] is not None
    assert parts["stt_inference_s"] is not None
    before_llm = parts["end_of_turn_wait_s"] + parts["stt_inference_s"]
    assert before_llm <= turn["first_audio_latency_s"] + 0.05
    assert parts["llm_first_sentence_s"] <= turn["first_audio_latency_s"]
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
    # issue 15.13: with no --llm-model, the one model the endpoint serves is used, not Nebius's
    assert {r.body.get("model") for r in llm_server.chat_requests()} == {"fake-model"}


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


def _silence(path: Path, seconds: float = 1.0) -> Path:
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(16_000)
        wav.writeframes(b"\x00\x00" * int(16_000 * seconds))
    return path


@pytest.mark.parametrize(
    ("out", "fragment"),
    [
        ("folder", "is a folder; give a file name"),
        ("missing/reply.wav", "does not exist"),
        ("/proc/reply.wav", "cannot write in /proc"),
    ],
)
def test_a_bad_out_is_refused_before_the_conversation(
    speech: SpeechFiles, llm_server: FakeLlmServer, tmp_path: Path, out: str, fragment: str
) -> None:
    """Issue 15.10: `--out DIR` (or an unwritable path) crashed with a traceback after the
    whole conversation, and its transcript was lost."""
    (tmp_path / "folder").mkdir()
    target = out if out.startswith("/") else str(tmp_path / out)
    proc = _run(
        "converse",
        str(speech("Hello there.")),
        "--out",
        target,
        "--llm-base-url",
        llm_server.base_url,
        "--no-llm-check",
        timeout=60,
    )
    _assert_one_line_error(proc, 2, fragment)
    assert llm_server.requests == []  # nothing ran


@pytest.mark.parametrize("command", ["transcribe", "converse"])
def test_an_unknown_language_is_one_line(speech: SpeechFiles, command: str) -> None:
    """Issue 15.11: `transcribe --language xx` crashed with a traceback; `converse` took it."""
    proc = (
        _run(
            command,
            str(speech("Hello there.")),
            "--language",
            "xx",
            "--llm-base-url",
            "http://127.0.0.1:9/v1",
            timeout=60,
        )
        if command == "converse"
        else _run(command, str(speech("Hello there.")), "--language", "xx")
    )
    _assert_one_line_error(proc, 2, "'xx' is not a language Whisper knows")


def test_a_silent_input_is_refused_at_once(tmp_path: Path) -> None:
    """Issue 15.16: a silent input waited 12 s for a reply and exited 0 with a warning."""
    proc = _run(
        "converse",
        str(_silence(tmp_path / "silence.wav")),
        "--llm-base-url",
        "http://127.0.0.1:9/v1",
        timeout=60,
    )
    _assert_one_line_error(proc, 2, "is silent (its loudest sample is -inf dBFS)")


@pytest.mark.slow
def test_converse_shows_each_turn_as_it_completes_and_keeps_them_on_ctrl_c(
    speech: SpeechFiles, llm_server: FakeLlmServer
) -> None:
    """Issue 15.16: `converse` printed nothing until the last turn was done, and Ctrl+C threw
    finished turns away."""
    import signal
    import time

    first, second = speech("What is the capital of France?"), speech("And of Spain?")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "voice_sidecar",
            "converse",
            str(first),
            str(second),
            str(second),
            "--stt-model",
            "tiny.en",
            "--llm-base-url",
            llm_server.base_url,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    try:
        deadline = time.monotonic() + 180
        shown = []
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            shown.append(line)
            if line.startswith("    first audio"):  # the first turn is complete
                break
        assert any(line.startswith("[1] user:") for line in shown), shown
        assert proc.poll() is None, "the first turn was shown only at the end"
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "stopped after" in err
    assert "of 3 turns" in err
    assert "Traceback" not in err
    assert "".join(shown).count("[1] user:") == 1


@pytest.mark.parametrize(
    ("flags", "fragment"),
    [
        (["--stt-compute-type", "float99"], "not a CTranslate2 compute type; did you mean float32"),
        (["--stt-compute-type", "float16"], "cannot run Whisper with compute type 'float16'"),
        (
            ["--stt-model", "tiny-en"],
            "no Whisper model is called 'tiny-en'; did you mean 'tiny.en'",
        ),
    ],
)
def test_a_wrong_speech_option_names_the_option_not_a_model_to_delete_or_pull(
    speech: SpeechFiles, flags: list[str], fragment: str
) -> None:
    """Issue 15.12: `--stt-compute-type float99` advised deleting a healthy model, and
    `--stt-model tiny-en` suggested `models pull tiny-en`, a name the catalog does not have."""
    model = [] if "--stt-model" in flags else ["--stt-model", "tiny.en"]
    proc = _run("transcribe", str(speech("Hello there.")), "--stt-device", "cpu", *model, *flags)
    _assert_one_line_error(proc, 2, fragment)
    assert "delete" not in proc.stderr
    assert "models pull" not in proc.stderr


def test_an_unknown_voice_suggests_the_nearest_catalog_voice(speech: SpeechFiles) -> None:
    proc = _run(
        "converse",
        str(speech("Hello there.")),
        "--stt-model",
        "tiny.en",
        "--tts-voice",
        "en_US-joe-mediun",
        "--llm-base-url",
        "http://127.0.0.1:9/v1",
        "--no-llm-check",
    )
    _assert_one_line_error(proc, 2, "no Piper voice is called 'en_US-joe-mediun'; did you mean")
    assert "'en_US-joe-medium'" in proc.stderr
    assert "models pull" not in proc.stderr


def test_a_model_the_local_llm_does_not_serve_is_refused_at_the_start(
    speech: SpeechFiles, llm_server: FakeLlmServer
) -> None:
    """Issue 15.13: the start check passed although /v1/models did not list the model, and
    every turn then failed (exit 0)."""
    proc = _run(
        "converse",
        str(speech("Hello there.")),
        "--llm-base-url",
        llm_server.base_url,
        "--llm-model",
        "llama3.1",
    )
    _assert_one_line_error(proc, 3, "does not serve model 'llama3.1'; it serves fake-model")
    assert llm_server.chat_requests() == []


def test_a_local_llm_refusing_the_key_names_its_own_key(
    speech: SpeechFiles, llm_server: FakeLlmServer
) -> None:
    """Issue 15.13: a 401 from a local server said to set NEBIUS_API_KEY, which that server
    never receives."""
    llm_server.behaviour.required_api_key = "local-secret-key"
    proc = _run("converse", str(speech("Hello there.")), "--llm-base-url", llm_server.base_url)
    _assert_one_line_error(proc, 3, "rejected the API key (HTTP 401)")
    assert "VOICE_SIDECAR_LLM_API_KEY" in proc.stderr
    assert "NEBIUS_API_KEY" not in proc.stderr
