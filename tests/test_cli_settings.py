"""``config`` and ``key`` as a user runs them, and secrets never showing up anywhere."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from voice_sidecar.commands.config_cmd import README_END, README_START, settings_markdown
from voice_sidecar.testing.llm_server import FakeLlmServer

from .conftest import SpeechFiles

KEY = "sk-test-9f8e7d6c5b4a3210fedcba9876543210"
ROOT = Path(__file__).resolve().parents[1]


def _run(*args: str, stdin: str | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "voice_sidecar", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, **env},
        check=False,
    )


@pytest.fixture
def keyring_dir(tmp_path: Path) -> dict[str, str]:
    """A private keyring file for one test (the backend stores under XDG_DATA_HOME)."""
    return {"XDG_DATA_HOME": str(tmp_path / "data")}


def test_key_set_status_delete(keyring_dir: dict[str, str]) -> None:
    missing = _run("key", "status", "--json", **keyring_dir)
    assert missing.returncode == 1
    assert json.loads(missing.stdout)["available"] is False

    stored = _run("key", "set", "--stdin", stdin=KEY + "\n", **keyring_dir)
    assert stored.returncode == 0, stored.stderr
    assert "Stored the Nebius API key" in stored.stdout

    status = _run("key", "status", "--json", **keyring_dir)
    assert status.returncode == 0
    report = json.loads(status.stdout)
    assert report["source"] == "keyring"
    assert report["stored_in_keyring"] is True

    overridden = _run("key", "status", **keyring_dir, NEBIUS_API_KEY="env-key-0123456789abcdefg")
    assert "from the environment NEBIUS_API_KEY" in overridden.stdout
    assert "environment takes precedence" in overridden.stdout

    assert _run("key", "delete", **keyring_dir).returncode == 0
    assert _run("key", "status", **keyring_dir).returncode == 1
    for proc in (stored, status, overridden):
        assert KEY not in proc.stdout + proc.stderr


def test_a_key_on_the_command_line_is_refused_without_echo(keyring_dir: dict[str, str]) -> None:
    proc = _run("key", "set", KEY, stdin="", **keyring_dir)
    assert proc.returncode == 2
    assert "never given on the command line" in proc.stderr
    assert KEY not in proc.stdout + proc.stderr


def test_malformed_key_is_refused(keyring_dir: dict[str, str]) -> None:
    proc = _run("key", "set", stdin="not a key\n", **keyring_dir)
    assert proc.returncode == 2
    assert "spaces or line breaks" in proc.stderr


def test_no_keyring_backend_is_explained() -> None:
    proc = _run("key", "set", stdin=KEY, PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring")
    assert proc.returncode == 2
    assert "no OS keyring is available" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_config_show_masks_secrets_and_names_sources(tmp_path: Path) -> None:
    config = tmp_path / "settings.toml"
    config.write_text('[stt]\nmodel = "tiny.en"\n', encoding="utf-8")
    proc = _run(
        "--config",
        str(config),
        "config",
        "show",
        "--json",
        VOICE_SIDECAR_LLM_BASE_URL="http://127.0.0.1:9/v1",
        VOICE_SIDECAR_LLM_API_KEY=KEY,
    )
    assert proc.returncode == 0, proc.stderr
    assert KEY not in proc.stdout + proc.stderr
    rows = {row["setting"]: row for row in json.loads(proc.stdout)["settings"]}
    assert rows["stt.model"]["value"] == "tiny.en"
    assert rows["stt.model"]["source"] == f"config file {config}"
    assert rows["llm.api_key"]["value"] == "***"
    assert rows["llm.base_url"]["source"] == "environment VOICE_SIDECAR_LLM_BASE_URL"
    assert rows["tts.voice"]["source"] == "default"
    text = _run("--config", str(config), "config", "show", VOICE_SIDECAR_LLM_API_KEY=KEY)
    assert KEY not in text.stdout
    assert "stt.model" in text.stdout


def test_config_path_is_per_user(hermetic_home: Path) -> None:
    proc = _run("config", "path")
    assert proc.returncode == 0
    path = Path(proc.stdout.strip())
    assert path.name == "voice-sidecar.toml"
    assert str(hermetic_home) in str(path)


def test_readme_settings_table_is_generated() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start = readme.index(README_START) + len(README_START)
    end = readme.index(README_END)
    assert readme[start:end].strip() == settings_markdown().strip(), (
        "README settings table is stale: regenerate it with "
        "'voice-sidecar config docs' between the settings markers"
    )


@pytest.mark.slow
def test_keyring_key_reaches_the_llm_and_never_the_logs(
    speech: SpeechFiles, llm_server: FakeLlmServer, keyring_dir: dict[str, str]
) -> None:
    """The key is stored once, then used with nothing exported; debug logs stay clean."""
    llm_server.behaviour.required_api_key = KEY
    assert _run("key", "set", "llm", "--stdin", stdin=KEY, **keyring_dir).returncode == 0
    proc = _run(
        "--log-level",
        "debug",
        "converse",
        str(speech("What is the capital of France?")),
        "--stt-model",
        "tiny.en",
        "--llm-base-url",
        llm_server.base_url,
        "--json",
        **keyring_dir,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(proc.stdout)
    assert report["llm"]["key_source"] == "keyring"
    assert report["turns"][0]["agent_text"].startswith("You said:")
    assert llm_server.chat_requests()[-1].headers["Authorization"] == f"Bearer {KEY}"
    assert "DEBUG" in proc.stderr
    assert KEY not in proc.stdout + proc.stderr


NO_KEYRING = {"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}


def test_key_set_without_a_keyring_says_so_before_asking() -> None:
    """Issue 15.14: `key set` asked for the key and only then said the keyring was refused."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "voice_sidecar", "key", "set", "--stdin"],
        stdin=subprocess.PIPE,  # left open: a key set that reads first never returns
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **NO_KEYRING},
    )
    try:
        proc.wait(30)
        assert proc.stderr is not None
        err = proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 2
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("voice-sidecar: error: cannot store the Nebius API key: the OS ")
    assert lines[0].endswith("set NEBIUS_API_KEY in the environment")


def test_key_status_without_a_keyring_gives_one_way() -> None:
    """Issue 15.14: `key status` said to store the key with `key set`, then that the keyring
    could not be read."""
    proc = _run("key", "status", **NO_KEYRING)
    assert proc.returncode == 1
    assert proc.stdout.count("\n") == 1, proc.stdout
    assert "set NEBIUS_API_KEY in the environment" in proc.stdout
    assert "key set" not in proc.stdout


def test_config_show_is_not_stamped_with_the_keyring_warning() -> None:
    proc = _run("config", "show", **NO_KEYRING)
    assert proc.returncode == 0, proc.stderr
    assert "keyring" not in proc.stderr.lower()


def test_agent_without_a_livekit_pair_names_the_livekit_pair() -> None:
    """Issue 15.14: `agent` said to set NEBIUS_API_KEY when what was missing was the LiveKit
    key pair."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIVEKIT_")}
    proc = subprocess.run(
        [sys.executable, "-m", "voice_sidecar", "agent"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**env, **NO_KEYRING, "NEBIUS_API_KEY": KEY},
        check=False,
    )
    assert proc.returncode == 2
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("voice-sidecar: error: no LiveKit key pair: set LIVEKIT_API_KEY and ")
    assert "NEBIUS_API_KEY" not in last
