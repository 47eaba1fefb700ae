"""What ``up`` gives each child: its own secrets and no one else's (issue 15.6)."""

from __future__ import annotations

from pathlib import Path

from voice_sidecar.secret_store import LiveKitCredentials
from voice_sidecar.settings import Settings
from voice_sidecar.stack import service_specs

CREDENTIALS = LiveKitCredentials("APIrun", "s" * 48)
ENVIRON = {
    "PATH": "/usr/bin",
    "HOME": "/home/u",
    "NEBIUS_API_KEY": "nebius-key-1234567890",
    "VOICE_SIDECAR_LLM_API_KEY": "llm-key-1234567890",
    "OPENAI_API_KEY": "openai-key-1234567890",
    "GITHUB_TOKEN": "ghp_1234567890",
    "AWS_SECRET_ACCESS_KEY": "aws-1234567890",
    "LIVEKIT_API_SECRET": "an-old-secret-from-the-shell",
    "VOICE_SIDECAR_STT_MODEL": "tiny.en",
}


def _envs() -> dict[str, dict[str, str]]:
    specs = service_specs(
        settings=Settings(),
        binary=Path("/bin/livekit-server"),
        config_path=Path("state/livekit.yaml"),
        credentials=CREDENTIALS,
        environ=ENVIRON,
        agent_args=[],
    )
    return {spec.name: dict(spec.env) for spec in specs}


def test_livekit_server_gets_its_key_pair_and_no_other_secret() -> None:
    """Issue 15.6: NEBIUS_API_KEY was in livekit-server's environment."""
    env = _envs()["livekit-server"]
    assert env["LIVEKIT_KEYS"] == f"{CREDENTIALS.api_key}: {CREDENTIALS.api_secret}"
    assert {"PATH", "HOME", "VOICE_SIDECAR_STT_MODEL"} <= set(env)
    leaked = {name for name, value in env.items() if "1234567890" in value or "old-secret" in value}
    assert leaked == set()


def test_the_agent_gets_the_llm_keys_and_its_livekit_pair_only() -> None:
    env = _envs()["agent"]
    assert env["NEBIUS_API_KEY"] == ENVIRON["NEBIUS_API_KEY"]
    assert env["VOICE_SIDECAR_LLM_API_KEY"] == ENVIRON["VOICE_SIDECAR_LLM_API_KEY"]
    assert env["LIVEKIT_API_SECRET"] == CREDENTIALS.api_secret
    assert env["LIVEKIT_API_KEY"] == CREDENTIALS.api_key
    assert env["VOICE_SIDECAR_SUPERVISED"] == "1"  # issue 15.9: it does not write our log file
    for name in ("OPENAI_API_KEY", "GITHUB_TOKEN", "AWS_SECRET_ACCESS_KEY", "LIVEKIT_KEYS"):
        assert name not in env


def test_the_supervised_marker_is_not_taken_for_a_setting() -> None:
    from voice_sidecar import log, settings_loader

    assert log.SUPERVISED_VARIABLE == settings_loader.SUPERVISED_VARIABLE
