"""``voice-sidecar key set | status | delete``: API keys in the OS keyring, never on argv."""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from collections.abc import Callable

from voice_sidecar.errors import UserFacingError
from voice_sidecar.secret_store import (
    ENV_FOR_KEY,
    KeyName,
    KeyringError,
    missing_key_advice,
    resolve_api_key,
    validate_api_key,
)

from .context import CommandContext

Handler = Callable[[argparse.Namespace, CommandContext], int]

_LABELS = {"nebius": "Nebius API key", "llm": "API key of the custom LLM endpoint"}
EXIT_MISSING = 1


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser("key", help="store, check or delete the LLM API key")
    actions = parser.add_subparsers(dest="key_action", required=True, metavar="ACTION")
    for name, help_text, handler in (
        ("set", "store a key read from a hidden prompt or stdin", run_set),
        ("status", "say where the key would come from (exit 1 when there is none)", run_status),
        ("delete", "remove the stored key", run_delete),
    ):
        action = actions.add_parser(name, help=help_text)
        # no argparse choices: its error would echo a key pasted here by mistake
        action.add_argument(
            "name",
            nargs="?",
            default="nebius",
            help="nebius (default), or llm for another endpoint",
        )
        action.set_defaults(handler=_checked(handler))
        if name == "set":
            action.add_argument(
                "--stdin", action="store_true", help="read the key from standard input"
            )
        if name == "status":
            action.add_argument("--json", action="store_true")


def _checked(handler: Handler) -> Handler:
    def run(args: argparse.Namespace, context: CommandContext) -> int:
        if args.name not in _LABELS:
            raise UserFacingError(
                "the key name must be 'nebius' or 'llm'; the key itself is never given on the "
                "command line: run 'voice-sidecar key set' and paste it at the hidden prompt"
            )
        return handler(args, context)

    return run


def _read_key(args: argparse.Namespace) -> str:
    label = _LABELS[args.name]
    if args.stdin or not sys.stdin.isatty():
        return sys.stdin.readline()
    return getpass.getpass(f"{label} (input hidden): ")


def store_key(context: CommandContext, name: KeyName, raw: str) -> str:
    """Check a pasted key's shape, mask it from now on, and put it in the OS keyring."""
    key = validate_api_key(raw)
    context.redactor.add(key)
    context.store.set(name, key)
    return key


def run_set(args: argparse.Namespace, context: CommandContext) -> int:
    name: KeyName = args.name
    try:  # before asking: a key typed for a keyring that cannot take it would be lost
        backend = context.store.backend_name()
    except KeyringError as exc:
        raise KeyringError(
            f"cannot store the {_LABELS[name]}: {missing_key_advice(name, str(exc))}"
        ) from None
    store_key(context, name, _read_key(args))
    print(f"Stored the {_LABELS[name]} in the OS keyring ({backend}).")
    variable = ENV_FOR_KEY[name]
    if context.environ.get(variable):
        print(f"Note: {variable} is set in this environment and takes precedence over the keyring.")
    return 0


def run_status(args: argparse.Namespace, context: CommandContext) -> int:
    name: KeyName = args.name
    resolved = resolve_api_key(name, context.environ, context.store)
    try:
        backend: str | None = context.store.backend_name()
        stored = context.store.get(name) is not None
    except KeyringError:
        backend, stored = None, False
    report = {
        "name": name,
        "available": resolved.value is not None,
        "source": resolved.source,
        "stored_in_keyring": stored,
        "keyring_backend": backend,
        "problem": resolved.problem,
    }
    if args.json:
        json.dump(report, sys.stdout, indent=2)
        sys.stdout.write("\n")
    elif resolved.value is not None:
        print(f"{_LABELS[name]}: set, from the {resolved.source}.")
        if resolved.source.startswith("environment") and stored:
            print("A key is also stored in the keyring; the environment takes precedence.")
    else:
        print(f"{_LABELS[name]}: not set; {missing_key_advice(name, resolved.problem)}.")
    return 0 if resolved.value is not None else EXIT_MISSING


def run_delete(args: argparse.Namespace, context: CommandContext) -> int:
    name: KeyName = args.name
    if context.store.delete(name):
        print(f"Deleted the {_LABELS[name]} from the OS keyring.")
    else:
        print(f"No {_LABELS[name]} was stored in the OS keyring.")
    return 0
