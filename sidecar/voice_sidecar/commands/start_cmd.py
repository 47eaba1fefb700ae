"""``voice-sidecar start``: the whole voice backend in the foreground, for a person at a terminal.

This is what ``scripts/start-voice.sh`` and ``scripts/start-voice.ps1`` run once ``.venv``
is ready; every step lives here so that both platforms behave the same and the tests cover
it. In order:

1. the Nebius API key: asked for once, at a hidden prompt, and stored in the OS keyring, when
   the LLM is Nebius, no key is in the environment or the keyring, and stdin is a terminal
   (never read from the command line);
2. ``livekit-server``: fetched into the user cache when none is found;
3. ``up``'s stack (``stack.run_stack``) in the foreground, its events as readable lines
   instead of JSON. Ctrl+C (or SIGTERM, or closing the terminal) stops everything it started.

The decisions are pure functions of the facts (``key_step``, ``livekit_step``,
``agent_arguments``); ``run_start`` gathers the facts and acts.
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import logging
import os
import signal
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from voice_sidecar.persona import Persona
from voice_sidecar.secret_store import missing_key_advice

from .context import CommandContext

KeyAction = Literal["not_needed", "present", "prompt", "go_without"]
LiveKitAction = Literal["use", "fetch", "fail"]

KEY_PROMPT = "Nebius API key (input hidden, Enter to skip): "
KEY_ATTEMPTS = 3
_LATER = (
    "the assistant will say that it needs one; store it with 'voice-sidecar key set' "
    "or set NEBIUS_API_KEY"
)


@dataclass(frozen=True)
class KeyFacts:
    nebius: bool
    """The LLM endpoint is Nebius AI Studio (the only one whose key is asked for)."""
    source: str | None
    """Where the key comes from ('keyring', 'environment NEBIUS_API_KEY'); None: nowhere."""
    keyring_problem: str | None
    """Why the OS keyring could not be read, when it could not."""
    terminal: bool
    """stdin is a terminal, so a person can answer a prompt."""
    prompt_allowed: bool = True
    """False with --no-key-prompt."""


@dataclass(frozen=True)
class KeyStep:
    action: KeyAction
    note: str | None
    """One line for the user, or None."""


def key_step(facts: KeyFacts) -> KeyStep:
    """Whether to ask for the Nebius key, and what to say."""
    if not facts.nebius:
        return KeyStep("not_needed", None)
    if facts.source:
        return KeyStep("present", f"Nebius API key: from the {facts.source}.")
    if facts.keyring_problem:
        return KeyStep(
            "go_without",
            f"No Nebius API key: {missing_key_advice('nebius', facts.keyring_problem)}.",
        )
    if not facts.prompt_allowed:
        return KeyStep("go_without", f"No Nebius API key: {_LATER}.")
    if not facts.terminal:
        return KeyStep("go_without", f"No Nebius API key and no terminal to ask at: {_LATER}.")
    return KeyStep("prompt", None)


@dataclass(frozen=True)
class LiveKitFacts:
    found: str | None
    """How livekit-server was found ('user cache (fetch-livekit)', 'PATH' ...); None: not."""
    env_override: bool
    """LIVEKIT_SERVER_BIN is set (when nothing was found, it names no executable)."""
    fetch_allowed: bool
    """False with --no-fetch."""
    offline: bool
    """models.offline: nothing is downloaded."""


@dataclass(frozen=True)
class LiveKitStep:
    action: LiveKitAction
    reason: str


def livekit_step(facts: LiveKitFacts) -> LiveKitStep:
    """Use the livekit-server found, fetch one, or stop and say why."""
    if facts.found:
        return LiveKitStep("use", f"found ({facts.found})")
    if facts.env_override:
        # the user chose a binary; fetching another one behind their back would hide the mistake
        return LiveKitStep("fail", "LIVEKIT_SERVER_BIN is set")
    if not facts.fetch_allowed:
        return LiveKitStep("fail", "not fetched: --no-fetch")
    if facts.offline:
        return LiveKitStep("fail", "not fetched: models.offline is set")
    return LiveKitStep("fetch", "not found; fetching it into the user cache")


def persona_overrides(persona: Persona) -> dict[str, str]:
    """A persona as settings (``persona.*``), the defaults the agent greets every session with."""
    overrides = {"persona.name": persona.name, "persona.instructions": persona.instructions}
    if persona.voice:
        overrides["persona.voice"] = persona.voice
    if persona.language:
        overrides["persona.language"] = persona.language
    return overrides


def agent_arguments(base: Sequence[str], overrides: Mapping[str, object]) -> list[str]:
    """The agent child's global arguments: ``up``'s, plus every setting ``start`` was given
    (the child reads its settings itself, so flags that only this process parsed go as --set)."""
    arguments = list(base)
    for dotted, value in overrides.items():
        arguments += ["--set", f"{dotted}={value}"]
    return arguments


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from voice_sidecar.cli import add_speech_recognition_flags
    from voice_sidecar.livekit_server.fetch import RELEASE_BASE_URL

    parser = commands.add_parser(
        "start",
        help="run the whole voice backend in the foreground with readable output "
        "(what scripts/start-voice.sh and .ps1 run)",
        description="Asks for the Nebius API key once if none is stored (stdin must be a "
        "terminal), fetches livekit-server if none is found, then runs what 'up' runs, in the "
        "foreground, printing its events as readable lines. Ctrl+C stops everything.",
    )
    add_speech_recognition_flags(parser)
    lm = parser.add_argument_group("language model (OpenAI-compatible)")
    lm.add_argument("--llm-base-url", help="default: Nebius AI Studio (the only key asked for)")
    lm.add_argument("--llm-model")
    parser.add_argument(
        "--persona",
        help="the default persona: a JSON file or inline JSON "
        '{"name", "instructions", "voice", "language"}',
    )
    parser.add_argument(
        "--dev-origin",
        action="append",
        default=[],
        help="an extra Origin allowed on the control API, e.g. http://localhost:5173",
    )
    parser.add_argument(
        "--no-fetch", action="store_true", help="never download livekit-server; fail instead"
    )
    parser.add_argument(
        "--livekit-base-url",
        default=RELEASE_BASE_URL,
        help="where livekit-server releases are fetched from (a mirror in the same layout)",
    )
    parser.add_argument(
        "--livekit-from-source",
        action="store_true",
        help="when livekit-server must be fetched, build the pinned version from source with Go "
        "instead of downloading the release (asked at a terminal when the release is out of "
        "reach)",
    )
    parser.add_argument(
        "--no-key-prompt", action="store_true", help="never ask for the Nebius API key"
    )
    # also after 'start', where the scripts put every option (given here, it replaces any
    # --set before 'start')
    parser.add_argument(
        "--set",
        action="append",
        default=argparse.SUPPRESS,
        metavar="KEY=VALUE",
        help="set any setting for this run, e.g. --set turn.vad_min_silence_s=0.4",
    )
    parser.set_defaults(handler=run_start)


def _say(text: str) -> None:
    print(text, flush=True)


def _stdin_is_terminal() -> bool:
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except (OSError, ValueError):
        return False


def _flag_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """Settings given as flags of this command (``--stt-model`` ...); ``--set``, ``--config``,
    ``--log-level`` and ``--models-dir`` reach the agent through ``up``'s own arguments."""
    from voice_sidecar.cli import FLAG_SETTINGS

    return {
        dotted: getattr(args, attr)
        for attr, dotted in FLAG_SETTINGS.items()
        if attr not in ("log_level", "models_dir") and getattr(args, attr, None) is not None
    }


def _apply_persona(args: argparse.Namespace, context: CommandContext) -> dict[str, str]:
    """``--persona`` as settings, for this process (models it needs) and the agent alike."""
    if args.persona is None:
        return {}
    from voice_sidecar.cli import command_line_overrides
    from voice_sidecar.settings_loader import load_settings

    from .converse import default_persona, load_session_request

    request = load_session_request(args.persona, default_persona(context.settings.persona))
    if request.history:
        _say("Note: the history in --persona is left out; each session brings its own.")
    overrides = persona_overrides(request.persona)
    context.loaded = load_settings(
        config_file=context.loaded.config_file,
        environ=context.environ,
        overrides={**command_line_overrides(args), **overrides},
    )
    return overrides


def prompt_for_key(
    context: CommandContext,
    *,
    read: Callable[[str], str] = getpass.getpass,
    attempts: int = KEY_ATTEMPTS,
) -> bool:
    """Ask for the Nebius key at a hidden prompt and store it as ``key set`` does.

    True when a key is available for this run. A keyring that refuses the key leaves it in
    this run's environment only (children get it there, never on argv)."""
    from voice_sidecar.secret_store import KeyringError, SecretValueError, validate_api_key

    from .key_cmd import store_key

    _say(
        "The language model is Nebius AI Studio and no API key is stored yet. Paste it once: "
        "it goes to the OS keyring."
    )
    for _ in range(attempts):
        try:
            raw = read(KEY_PROMPT)
        except EOFError:
            raw = ""
        if not raw.strip():
            _say(f"No key given: {_LATER}.")
            return False
        try:
            store_key(context, "nebius", raw)
        except SecretValueError as exc:
            _say(f"That is not an API key: {exc}.")
            continue
        except KeyringError as exc:
            key = validate_api_key(raw)
            context.environ = {**context.environ, "NEBIUS_API_KEY": key}
            _say(f"The key could not be stored ({exc}); it is used for this run only.")
            return True
        _say(f"Stored the Nebius API key in the OS keyring ({context.store.backend_name()}).")
        return True
    _say(f"No valid key after {attempts} tries: {_LATER}.")
    return False


def ensure_key(args: argparse.Namespace, context: CommandContext) -> KeyStep:
    from voice_sidecar.secret_store import resolve_api_key

    nebius = context.settings.llm.is_nebius
    resolved = resolve_api_key("nebius", context.environ, context.store) if nebius else None
    step = key_step(
        KeyFacts(
            nebius=nebius,
            source=resolved.source if resolved is not None and resolved.value else None,
            keyring_problem=resolved.problem if resolved is not None else None,
            terminal=_stdin_is_terminal(),
            prompt_allowed=not args.no_key_prompt,
        )
    )
    if step.note:
        _say(step.note)
    if step.action == "prompt":
        prompt_for_key(context)
    return step


def ensure_livekit(args: argparse.Namespace, context: CommandContext) -> Path:
    from voice_sidecar.livekit_server.install import InstallRequest, install_livekit
    from voice_sidecar.livekit_server.locate import (
        ENV_VARIABLE,
        FoundBinary,
        LiveKitNotFoundError,
        find_livekit_server,
    )
    from voice_sidecar.livekit_server.version import LIVEKIT_VERSION
    from voice_sidecar.models.progress_render import TerminalProgressBar
    from voice_sidecar.paths import default_bin_dir

    from .fetch_livekit_cmd import ask_yes_no

    found: FoundBinary | None = None
    missing: LiveKitNotFoundError | None = None
    try:
        found = find_livekit_server(environ=context.environ, cache_bin_dir=default_bin_dir())
    except LiveKitNotFoundError as exc:
        missing = exc
    step = livekit_step(
        LiveKitFacts(
            found=found.how if found else None,
            env_override=bool(context.environ.get(ENV_VARIABLE)),
            fetch_allowed=not args.no_fetch,
            offline=context.settings.models.offline,
        )
    )
    if step.action == "use" and found is not None:
        _say(f"livekit-server: {found.path} ({found.how}).")
        return found.path
    if step.action == "fail":
        message = str(missing) if missing else "livekit-server was not found"
        if not context.environ.get(ENV_VARIABLE):
            message += f" ({step.reason})"
        raise LiveKitNotFoundError(message)
    _say(f"livekit-server: {step.reason} (version {LIVEKIT_VERSION}).")
    path = install_livekit(
        InstallRequest(
            target_dir=default_bin_dir(),
            base_url=args.livekit_base_url,
            from_source=args.livekit_from_source,
            source_flag="--livekit-from-source",
            mirror_flag="--livekit-base-url",
        ),
        progress=TerminalProgressBar(sys.stderr),
        ask=ask_yes_no,
        environ=context.environ,
    )
    _say(f"livekit-server: installed at {path}.")
    return path


def _terminal_log_level(context: CommandContext) -> None:
    """``up`` logs at info to the log file and so to stderr; at a terminal, stderr keeps the
    configured level (the file still gets everything)."""
    level = getattr(logging, context.settings.logging.level.upper())
    for handler in logging.getLogger().handlers:
        if type(handler) is logging.StreamHandler:
            handler.setLevel(level)


@contextlib.contextmanager
def _hangup_stops() -> Iterator[None]:
    """A closed terminal (SIGHUP) stops the stack as SIGTERM does, instead of killing this
    process before it has stopped its children."""
    hangup = getattr(signal, "SIGHUP", None)
    if hangup is None:  # Windows
        yield
        return

    def forward(signum: int, frame: object) -> None:
        os.kill(os.getpid(), signal.SIGTERM)

    previous = signal.signal(hangup, forward)
    try:
        yield
    finally:
        signal.signal(hangup, previous)


def run_start(args: argparse.Namespace, context: CommandContext) -> int:
    import asyncio

    from voice_sidecar.event_render import PlainEventWriter
    from voice_sidecar.stack import StackOptions, run_stack

    from .up_cmd import _child_args, _file_logging

    overrides: dict[str, Any] = _flag_overrides(args)
    overrides |= _apply_persona(args, context)
    key = ensure_key(args, context)
    ensure_livekit(args, context)
    log_file = Path(_file_logging(context))
    _terminal_log_level(context)
    events = PlainEventWriter(sys.stdout, context.redactor)
    with _hangup_stops():
        return asyncio.run(
            run_stack(
                context,
                events,
                StackOptions(
                    parent_pid=None,
                    # a person stops it with Ctrl+C; stdin may be a terminal, /dev/null or closed
                    watch_stdin=False,
                    agent_args=agent_arguments(_child_args(args), overrides),
                    dev_origins=args.dev_origin,
                    log_file=log_file,
                    # a missing key was said once already, with the way to fix it
                    report_missing_key=key.note is None,
                ),
            )
        )
