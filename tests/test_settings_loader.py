"""Layered settings: defaults < config file < environment < command line."""

from __future__ import annotations

from pathlib import Path

import pytest

from voice_sidecar.settings import Settings
from voice_sidecar.settings_loader import LoadedSettings, SettingsError, coerce, load_settings


def _load(
    tmp_path: Path,
    toml: str | None = None,
    env: dict[str, str] | None = None,
    cli: dict[str, object] | None = None,
) -> LoadedSettings:
    config = tmp_path / "voice-sidecar.toml"
    if toml is not None:
        config.write_text(toml, encoding="utf-8")
    return load_settings(config_file=config, environ=env or {}, overrides=cli or {})


@pytest.mark.parametrize(
    ("toml", "env", "cli", "expected", "source"),
    [
        (None, None, None, "base", "default"),
        ('[stt]\nmodel = "tiny.en"\n', None, None, "tiny.en", "config file"),
        (
            '[stt]\nmodel = "tiny.en"\n',
            {"VOICE_SIDECAR_STT_MODEL": "small"},
            None,
            "small",
            "environment VOICE_SIDECAR_STT_MODEL",
        ),
        (
            '[stt]\nmodel = "tiny.en"\n',
            {"VOICE_SIDECAR_STT_MODEL": "small"},
            {"stt.model": "medium.en"},
            "medium.en",
            "command line",
        ),
        (None, None, {"stt.model": "medium.en"}, "medium.en", "command line"),
    ],
)
def test_precedence(
    tmp_path: Path,
    toml: str | None,
    env: dict[str, str] | None,
    cli: dict[str, object] | None,
    expected: str,
    source: str,
) -> None:
    loaded = _load(tmp_path, toml, env, cli)
    assert loaded.settings.stt.model == expected
    assert loaded.sources["stt.model"].startswith(source)


def test_every_section_round_trips_from_the_environment(tmp_path: Path) -> None:
    env = {
        "VOICE_SIDECAR_STT_BEAM_SIZE": "5",
        "VOICE_SIDECAR_STT_LANGUAGE": "",
        "VOICE_SIDECAR_TTS_SPEAKING_RATE": "1.25",
        "VOICE_SIDECAR_LLM_TEMPERATURE": "0.3",
        "VOICE_SIDECAR_LLM_API_KEY": "local-secret-key",
        "VOICE_SIDECAR_TURN_PREEMPTIVE_GENERATION": "off",
        "VOICE_SIDECAR_TURN_FALSE_INTERRUPTION_TIMEOUT_S": "",
        "VOICE_SIDECAR_PERSONA_NAME": "Ada",
        "VOICE_SIDECAR_MODELS_OFFLINE": "yes",
        "VOICE_SIDECAR_PORTS_LIVEKIT_HTTP": "17880",
        "VOICE_SIDECAR_LOGGING_LEVEL": "DEBUG",
        "VOICE_SIDECAR_CONFIG": "/ignored/because/it/names/the/file",
    }
    s = _load(tmp_path, env=env).settings
    assert s.stt.beam_size == 5
    assert s.stt.language is None
    assert s.tts.speaking_rate == 1.25
    assert s.llm.temperature == 0.3
    assert s.llm.api_key == "local-secret-key"
    assert s.turn.preemptive_generation is False
    assert s.turn.false_interruption_timeout_s is None
    assert s.persona.name == "Ada"
    assert s.models.offline is True
    assert s.ports.livekit_http == 17880
    assert s.logging.level == "debug"


def test_defaults_equal_the_settings_classes(tmp_path: Path) -> None:
    assert _load(tmp_path).settings == Settings()


def test_the_variables_of_the_app_and_the_bench_are_not_taken_for_settings(
    tmp_path: Path,
) -> None:
    """`bench` reads VOICE_SIDECAR_REAL_SPEECH (CI exports it): a shell that has it set must
    still run every command (it was refused as "not a setting")."""
    env = {"VOICE_SIDECAR_REAL_SPEECH": str(tmp_path), "VOICE_SIDECAR_SUPERVISED": "1"}
    assert _load(tmp_path, env=env).settings == Settings()


@pytest.mark.parametrize(
    ("toml", "env", "cli", "message"),
    [
        ("[stt]\nbeam_size = 0\n", None, None, "invalid setting stt.beam_size (from config file"),
        (
            None,
            {"VOICE_SIDECAR_STT_BEAM_SIZE": "many"},
            None,
            "'many' (from environment VOICE_SIDECAR_STT_BEAM_SIZE): expected a whole number",
        ),
        (
            None,
            None,
            {"stt.device": "tpu"},
            "stt.device = 'tpu' (from command line): expected one of auto, cpu, cuda",
        ),
        (None, None, {"tts.speaking_rate": "9"}, "speaking_rate must be between 0.25 and 4"),
        ("[turn]\nvad_min_silence_s = 9\n", None, None, "turn.vad_min_silence_s (from config file"),
        ('[llm]\nbase_url = "ftp://x"\n', None, None, "base_url must start with http"),
        ("[ports]\nlivekit_http = 70000\n", None, None, "livekit_http must be a port"),
        (
            None,
            {"VOICE_SIDECAR_TURN_PREEMPTIVE_GENERATION": "maybe"},
            None,
            "expected true or false",
        ),
        ("[stt]\nmodle = 1\n", None, None, "unknown setting 'stt.modle'"),
        ("[speech]\nmodel = 1\n", None, None, "unknown setting 'speech.model'"),
        ("stt = 1\n", None, None, "'stt' must be a [table]"),
        ("[stt\n", None, None, "is not valid TOML"),
        (None, {"VOICE_SIDECAR_STT_MODLE": "x"}, None, "VOICE_SIDECAR_STT_MODLE is not a setting"),
        ('[llm]\napi_key = "sk-in-a-file"\n', None, None, "llm.api_key is a secret"),
        (None, None, {"llm.api_key": "sk-on-argv"}, "llm.api_key is a secret"),
        (None, None, {"nope": "1"}, "unknown setting 'nope'"),
    ],
)
def test_invalid_settings_name_setting_value_and_source(
    tmp_path: Path,
    toml: str | None,
    env: dict[str, str] | None,
    cli: dict[str, object] | None,
    message: str,
) -> None:
    with pytest.raises(SettingsError) as caught:
        _load(tmp_path, toml, env, cli)
    text = str(caught.value)
    assert message in text
    assert "\n" not in text
    assert "sk-in-a-file" not in text
    assert "sk-on-argv" not in text


@pytest.mark.parametrize(
    ("kind", "raw", "value"),
    [
        (int, "3", 3),
        (float, "0.25", 0.25),
        (float, 2, 2.0),
        (bool, "TRUE", True),
        (bool, "0", False),
        (bool, False, False),
        (int | None, "", None),
        (str | None, "  ", None),
        (str, "x", "x"),
    ],
)
def test_coercion(kind: object, raw: object, value: object) -> None:
    assert coerce(kind, raw) == value


@pytest.mark.parametrize(("kind", "raw"), [(int, True), (int, "1.5"), (float, "fast"), (str, 3)])
def test_coercion_refuses(kind: object, raw: object) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - the message is checked above
        coerce(kind, raw)


def test_unreadable_config_file_is_named(tmp_path: Path) -> None:
    folder = tmp_path / "voice-sidecar.toml"
    folder.mkdir()
    with pytest.raises(SettingsError, match="cannot read config file"):
        load_settings(config_file=folder, environ={})
