"""``voice-sidecar agent``: the LiveKit agent worker (what ``up`` supervises and Compose runs)."""

from __future__ import annotations

import argparse
from pathlib import Path

from voice_sidecar.errors import UserFacingError
from voice_sidecar.log import SUPERVISED_VARIABLE

from .context import CommandContext


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "agent",
        help="run the agent worker against a livekit-server (LIVEKIT_URL, LIVEKIT_API_KEY, "
        "LIVEKIT_API_SECRET or LIVEKIT_API_SECRET_FILE; defaults: the local server and this "
        "installation's keys); as a service, SIGTERM drains its conversations first",
    )
    parser.add_argument(
        "--registration-file",
        help="write this file each time the worker registers with livekit-server (what 'up' "
        "waits for before it hands out a session)",
    )
    parser.set_defaults(handler=run_agent)


def _secret_file(path: str | None) -> str | None:
    """The secret in a file (a Docker or Kubernetes secret): its content, less the line end."""
    if not path:
        return None
    try:
        secret = Path(path).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        raise UserFacingError(
            f"LIVEKIT_API_SECRET_FILE names {path}, which cannot be read ({reason}); point it at "
            "the file holding the secret, or set LIVEKIT_API_SECRET"
        ) from None
    if not secret:
        raise UserFacingError(f"LIVEKIT_API_SECRET_FILE names {path}, which is empty")
    return secret


def run_agent(args: argparse.Namespace, context: CommandContext) -> int:
    from voice_sidecar.agent_worker import WorkerConnection, run_worker
    from voice_sidecar.commands.converse import default_persona
    from voice_sidecar.llm_model_choice import ServedModelChoice
    from voice_sidecar.runtime import SpeechRuntime
    from voice_sidecar.secret_store import KeyringError, livekit_credentials

    from .common import model_paths

    # the LLM key is read for each conversation (settings_for_job), not here: a locked keyring
    # must not hold up the worker's start
    settings = context.settings
    env = context.environ
    url = env.get("LIVEKIT_URL") or f"ws://127.0.0.1:{settings.ports.livekit_http}"
    given_secret = env.get("LIVEKIT_API_SECRET") or _secret_file(env.get("LIVEKIT_API_SECRET_FILE"))
    if env.get("LIVEKIT_API_KEY") and given_secret:
        key, secret = env["LIVEKIT_API_KEY"], given_secret
    else:
        try:
            credentials = livekit_credentials(context.store)
        except KeyringError as exc:
            # what is missing is the LiveKit pair, not an LLM key
            raise UserFacingError(
                "no LiveKit key pair: set LIVEKIT_API_KEY and LIVEKIT_API_SECRET (32+ "
                f"characters, the pair livekit-server was given); the OS keyring cannot be used "
                f"to keep one ({exc})"
            ) from None
        key, secret = credentials.api_key, credentials.api_secret
    if len(secret) < 32:
        raise UserFacingError("LIVEKIT_API_SECRET must be at least 32 characters")
    context.redactor.add(secret)
    model_choice = ServedModelChoice(model_given=context.llm_model_given)
    runtime = SpeechRuntime.load(settings, model_paths(settings))
    try:
        runtime.warm_up()
        run_worker(
            runtime,
            settings,
            WorkerConnection(url=url, api_key=key, api_secret=secret),
            default_persona(settings.persona),
            settings_for_job=lambda: model_choice.apply(context.resolve_llm_key()),
            registration_file=Path(args.registration_file) if args.registration_file else None,
            # as a service SIGTERM drains; under `up` it stops at once (the stack is going)
            drain_on_sigterm=not env.get(SUPERVISED_VARIABLE),
        )
    finally:
        runtime.close()
    return 0
