"""``voice-sidecar start``: its decisions as tables, and each step on its own, in-process."""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from voice_sidecar.cli import build_parser, command_line_overrides
from voice_sidecar.commands.context import CommandContext
from voice_sidecar.commands.start_cmd import (
    KEY_PROMPT,
    KeyFacts,
    KeyStep,
    LiveKitFacts,
    LiveKitStep,
    _apply_persona,
    _flag_overrides,
    agent_arguments,
    ensure_key,
    ensure_livekit,
    key_step,
    livekit_step,
    persona_overrides,
    prompt_for_key,
)
from voice_sidecar.livekit_server.locate import LiveKitNotFoundError
from voice_sidecar.persona import Persona
from voice_sidecar.redaction import Redactor
from voice_sidecar.secret_store import KeyringError, SecretStore
from voice_sidecar.settings_loader import load_settings

from .livekit_fixtures import write_fake_binary
from .start_support import release_mirror

KEY = "nb-" + "k3y" * 10

# -- the key ---------------------------------------------------------------------------------


def _key(nebius: bool, source: str | None, problem: str | None, terminal: bool) -> KeyFacts:
    return KeyFacts(nebius=nebius, source=source, keyring_problem=problem, terminal=terminal)


ENV_KEY = "environment NEBIUS_API_KEY"


@pytest.mark.parametrize(
    ("facts", "action", "note_has"),
    [
        # not Nebius: no prompt and nothing to say, whatever else holds
        (_key(False, None, None, True), "not_needed", None),
        (_key(False, None, "locked", True), "not_needed", None),
        # a key in the environment or the keyring: say where from, never ask
        (_key(True, "keyring", None, True), "present", "from the keyring"),
        (_key(True, ENV_KEY, None, False), "present", "NEBIUS_API_KEY"),
        # missing, at a terminal: ask
        (_key(True, None, None, True), "prompt", None),
        # missing, no terminal (a pipe, /dev/null, a service): go on, say how to add it
        (_key(True, None, None, False), "go_without", "no terminal"),
        # missing, and the user said never ask
        (
            KeyFacts(True, None, None, terminal=True, prompt_allowed=False),
            "go_without",
            "voice-sidecar key set",
        ),
        # missing, and no keyring to store it in: point at the environment variable
        (_key(True, None, "no OS keyring", True), "go_without", "set NEBIUS_API_KEY"),
    ],
)
def test_key_step(facts: KeyFacts, action: str, note_has: str | None) -> None:
    step = key_step(facts)
    assert step.action == action
    if note_has is None:
        assert step.note is None
    else:
        assert step.note is not None
        assert note_has in step.note


# -- livekit-server --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("found", "env_override", "fetch_allowed", "offline", "expected"),
    [
        ("PATH", False, True, False, LiveKitStep("use", "found (PATH)")),
        ("LIVEKIT_SERVER_BIN", True, False, True, LiveKitStep("use", "found (LIVEKIT_SERVER_BIN)")),
        # missing: fetch it
        (
            None,
            False,
            True,
            False,
            LiveKitStep("fetch", "not found; fetching it into the user cache"),
        ),
        # the user's own LIVEKIT_SERVER_BIN is wrong: never fetch over it
        (None, True, True, False, LiveKitStep("fail", "LIVEKIT_SERVER_BIN is set")),
        (None, False, False, False, LiveKitStep("fail", "not fetched: --no-fetch")),
        (None, False, True, True, LiveKitStep("fail", "not fetched: models.offline is set")),
    ],
)
def test_livekit_step(
    found: str | None, env_override: bool, fetch_allowed: bool, offline: bool, expected: LiveKitStep
) -> None:
    assert livekit_step(LiveKitFacts(found, env_override, fetch_allowed, offline)) == expected


# -- what the agent child is told ------------------------------------------------------------


def test_agent_arguments_append_settings_after_ups_own() -> None:
    base = ["--config", "/c.toml", "--set", "turn.vad_min_silence_s=0.4"]
    assert agent_arguments(base, {"stt.model": "tiny.en", "persona.name": "Ada"}) == [
        *base,
        "--set",
        "stt.model=tiny.en",
        "--set",
        "persona.name=Ada",
    ]
    assert agent_arguments([], {}) == []


@pytest.mark.parametrize(
    ("persona", "expected"),
    [
        (
            Persona(name="Ada", instructions="Be brief."),
            {"persona.name": "Ada", "persona.instructions": "Be brief."},
        ),
        (
            Persona(name="Bo", instructions="Hi=there", voice="en_US-amy-medium", language="de"),
            {
                "persona.name": "Bo",
                "persona.instructions": "Hi=there",
                "persona.voice": "en_US-amy-medium",
                "persona.language": "de",
            },
        ),
    ],
)
def test_persona_overrides(persona: Persona, expected: dict[str, str]) -> None:
    assert persona_overrides(persona) == expected


def _parse(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(list(argv))


def test_flags_given_to_start_reach_the_agent_as_settings() -> None:
    args = _parse(
        "--log-level", "info", "start", "--stt-device", "cpu", "--stt-model", "tiny.en",
        "--llm-base-url", "http://127.0.0.1:9/v1", "--set", "turn.aec_warmup_s=0.5",
    )  # fmt: skip
    assert _flag_overrides(args) == {
        "stt.model": "tiny.en",
        "stt.device": "cpu",
        "llm.base_url": "http://127.0.0.1:9/v1",
    }
    # --set after 'start' (where the scripts put every option) counts like a global one
    assert command_line_overrides(args)["turn.aec_warmup_s"] == "0.5"
    assert args.handler.__name__ == "run_start"


def test_the_key_is_never_taken_from_the_command_line() -> None:
    with pytest.raises(SystemExit):
        _parse("start", "--key", KEY)
    with pytest.raises(SystemExit):
        _parse("start", KEY)


# -- steps, in-process, with a real (temporary) keyring ---------------------------------------


def _context(
    tmp_path: Path, *, environ: dict[str, str] | None = None, **overrides: Any
) -> CommandContext:
    env = {"PYTHON_KEYRING_BACKEND": "keyrings.alt.file.PlaintextKeyring", **(environ or {})}
    loaded = load_settings(config_file=tmp_path / "none.toml", environ=env, overrides=overrides)
    return CommandContext(
        loaded=loaded, environ=env, store=SecretStore(environ=env), redactor=Redactor()
    )


@pytest.fixture
def own_keyring(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A keyring file of this test's own (keyrings.alt follows XDG_DATA_HOME)."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    return tmp_path / "data"


def _reader(*answers: str | type[BaseException]) -> Any:
    given = list(answers)
    prompts: list[str] = []

    def read(prompt: str) -> str:
        prompts.append(prompt)
        answer = given.pop(0)
        if isinstance(answer, type):
            raise answer()
        return answer

    read.prompts = prompts  # type: ignore[attr-defined]
    return read


def test_a_pasted_key_is_stored_in_the_keyring(
    tmp_path: Path, own_keyring: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    context = _context(tmp_path)
    read = _reader(f"  {KEY}\n")
    assert prompt_for_key(context, read=read) is True
    assert read.prompts == [KEY_PROMPT]
    assert context.store.get("nebius") == KEY
    assert context.redactor.redact(f"x {KEY} y") != f"x {KEY} y"
    out = capsys.readouterr().out
    assert "Stored the Nebius API key in the OS keyring" in out
    assert KEY not in out


@pytest.mark.parametrize(
    ("answers", "stored", "says"),
    [
        (("",), None, "No key given"),
        ((EOFError,), None, "No key given"),
        (("not a key", KEY), KEY, "That is not an API key"),
        (("short", "a b c d e f g h i j k l m n o p", "bad"), None, "No valid key after 3 tries"),
    ],
)
def test_the_prompt_skips_on_enter_and_asks_again_on_a_bad_key(
    tmp_path: Path,
    own_keyring: Path,
    capsys: pytest.CaptureFixture[str],
    answers: tuple[Any, ...],
    stored: str | None,
    says: str,
) -> None:
    context = _context(tmp_path)
    assert prompt_for_key(context, read=_reader(*answers)) is (stored is not None)
    assert context.store.get("nebius") == stored
    assert says in capsys.readouterr().out


class _RefusingStore(SecretStore):
    def set(self, name: str, value: str) -> None:
        raise KeyringError("the OS keyring refused to store a key (locked)")

    def get(self, name: str) -> str | None:
        return None


def test_a_refusing_keyring_keeps_the_key_for_this_run_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    context = _context(tmp_path)
    context.store = _RefusingStore()
    assert prompt_for_key(context, read=_reader(KEY)) is True
    assert context.environ["NEBIUS_API_KEY"] == KEY  # reaches the children's environment
    assert context.resolve_llm_key().llm.api_key == KEY
    assert "used for this run only" in capsys.readouterr().out


def _start_args(*argv: str) -> argparse.Namespace:
    return _parse("start", *argv)


def test_a_stored_key_is_not_asked_for_again(
    tmp_path: Path, own_keyring: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    context = _context(tmp_path)
    context.store.set("nebius", KEY)
    monkeypatch.setattr("voice_sidecar.commands.start_cmd._stdin_is_terminal", lambda: True)
    monkeypatch.setattr("voice_sidecar.commands.start_cmd.prompt_for_key", _fail_if_called)
    assert ensure_key(_start_args(), context) == KeyStep(
        "present", "Nebius API key: from the keyring."
    )


def _fail_if_called(*args: object, **kwargs: object) -> bool:
    raise AssertionError("asked for a key it should not have asked for")


def test_no_prompt_for_another_llm(
    tmp_path: Path, own_keyring: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    overrides: dict[str, Any] = {"llm.base_url": "http://127.0.0.1:11434/v1"}
    context = _context(tmp_path, **overrides)
    monkeypatch.setattr("voice_sidecar.commands.start_cmd._stdin_is_terminal", lambda: True)
    monkeypatch.setattr("voice_sidecar.commands.start_cmd.prompt_for_key", _fail_if_called)
    assert ensure_key(_start_args(), context).action == "not_needed"


def test_a_missing_key_is_asked_for_at_a_terminal(
    tmp_path: Path, own_keyring: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    context = _context(tmp_path)
    asked: list[CommandContext] = []
    monkeypatch.setattr("voice_sidecar.commands.start_cmd._stdin_is_terminal", lambda: True)

    def prompt_for_key(asked_context: CommandContext) -> bool:
        asked.append(asked_context)
        return True

    monkeypatch.setattr("voice_sidecar.commands.start_cmd.prompt_for_key", prompt_for_key)
    assert ensure_key(_start_args(), context).action == "prompt"
    assert asked == [context]


def test_persona_becomes_the_default_persona_setting(tmp_path: Path) -> None:
    persona = tmp_path / "persona.json"
    persona.write_text(json.dumps({"name": "Ada", "voice": "en_US-amy-medium"}), encoding="utf-8")
    args = _start_args("--persona", str(persona), "--stt-model", "tiny.en")
    context = _context(tmp_path, **command_line_overrides(args))
    overrides = _apply_persona(args, context)
    assert overrides["persona.name"] == "Ada"
    assert overrides["persona.voice"] == "en_US-amy-medium"
    # this process sees it too (it fetches the persona's voice before the agent starts)
    assert context.settings.persona.name == "Ada"
    assert context.settings.persona.voice == "en_US-amy-medium"
    assert context.settings.stt.model == "tiny.en"
    assert context.loaded.sources["persona.name"] == "command line"


# -- livekit-server, found or fetched --------------------------------------------------------


@pytest.fixture
def own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The user cache (where a fetched livekit-server goes) of this test alone."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache" / "private-assistant" / "voice-sidecar" / "bin"


@pytest.fixture
def mirror(tmp_path: Path) -> Iterator[str]:
    with release_mirror(tmp_path / "releases") as url:
        yield url


def test_a_missing_livekit_server_is_fetched(
    tmp_path: Path, own_cache: Path, mirror: str, capsys: pytest.CaptureFixture[str]
) -> None:
    context = _context(tmp_path, environ={"PATH": "/nonexistent"})
    path = ensure_livekit(_start_args("--livekit-base-url", mirror), context)
    assert path == own_cache / "livekit-server"
    assert path.stat().st_mode & 0o111
    out = capsys.readouterr().out
    assert "fetching it into the user cache" in out
    assert f"installed at {path}" in out
    # the next start finds it there and fetches nothing
    assert ensure_livekit(_start_args("--livekit-base-url", "http://127.0.0.1:9"), context) == path


def test_a_found_livekit_server_is_used(tmp_path: Path, own_cache: Path) -> None:
    binary = write_fake_binary(tmp_path / "bin")
    context = _context(tmp_path, environ={"LIVEKIT_SERVER_BIN": str(binary)})
    assert (
        ensure_livekit(_start_args("--livekit-base-url", "http://127.0.0.1:9"), context) == binary
    )


@pytest.mark.parametrize(
    ("argv", "environ", "message"),
    [
        (["--no-fetch"], {}, "(not fetched: --no-fetch)"),
        ([], {"VOICE_SIDECAR_MODELS_OFFLINE": "true"}, "(not fetched: models.offline is set)"),
        ([], {"LIVEKIT_SERVER_BIN": "/nonexistent/livekit-server"}, "fix or unset it"),
    ],
)
def test_livekit_server_is_not_fetched_when_it_must_not_be(
    tmp_path: Path, own_cache: Path, argv: list[str], environ: dict[str, str], message: str
) -> None:
    context = _context(tmp_path, environ={"PATH": "/nonexistent", **environ})
    with pytest.raises(LiveKitNotFoundError) as caught:
        ensure_livekit(_start_args("--livekit-base-url", "http://127.0.0.1:9", *argv), context)
    assert message in str(caught.value)
    assert caught.value.exit_code == 5
    assert not own_cache.exists()
