"""``voice-sidecar up``: livekit-server and the agent worker under supervision, plus the
control API and the event stream the desktop app follows (docs/sidecar-protocol.md)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import __version__
from .agent_worker import AGENT_NAME
from .commands.common import model_paths
from .commands.context import CommandContext
from .control_api.app import build_app, new_token
from .control_api.key_status import KeyState, KeyStatusCache
from .control_api.server import ControlServer
from .control_api.session_tokens import mint_session
from .errors import AssistantBusyError, LLMUnreachableError, UserFacingError
from .events import EventWriter
from .livekit_server.locate import find_livekit_server
from .livekit_server.server_config import (
    LiveKitPorts,
    render_config,
    server_argv,
    server_environment,
)
from .llm_client import check_llm_reachable
from .log import SUPERVISED_VARIABLE, logger
from .model_service import ModelService
from .paths import default_bin_dir, default_state_dir
from .persona import SessionRequest
from .ports import PortBusyError, PortNeed, check_ports, first_busy, port_busy_error, port_needs
from .redaction import Redactor
from .secret_store import (
    ENV_FOR_KEY,
    LiveKitCredentials,
    missing_key_advice,
    validate_api_key,
    without_secrets,
)
from .settings import Settings
from .settings_loader import with_value
from .supervisor.events import ServiceEvent
from .supervisor.instance import InstanceFile
from .supervisor.manager import Supervisor, SupervisorStartError
from .supervisor.parent_watch import stdin_is_pipe
from .supervisor.probes import http_probe
from .supervisor.resources import raise_open_file_limit
from .supervisor.spec import ServiceSpec

EXIT_FATAL = 7


class NotReadyError(UserFacingError):
    """The stack is not (or no longer) able to serve a conversation."""


BUSY_MESSAGE = (
    "The assistant is busy with other conversations; try again in a minute "
    "(or raise worker.max_conversations)"
)


def sidecar_argv(extra: Sequence[str]) -> list[str]:
    """How to start this program again (frozen: the executable itself)."""
    if getattr(sys, "frozen", False):
        return [sys.executable, *extra]
    return [sys.executable, "-m", "voice_sidecar", *extra]


@dataclass
class PortConflicts:
    """Which service could not start because a port it needs was taken after the start-up
    check (another program was quicker): named in the final events, exit code 6."""

    found: dict[str, PortBusyError] = field(default_factory=dict)

    def diagnose(self, service: str, needs: list[PortNeed]) -> Callable[[], str | None]:
        def check() -> str | None:
            busy = first_busy(needs)
            if busy is None:
                return None
            self.found[service] = port_busy_error(busy)
            return str(self.found[service])

        return check


def service_specs(
    *,
    settings: Settings,
    binary: Path,
    config_path: Path,
    credentials: LiveKitCredentials,
    environ: Mapping[str, str],
    agent_args: Sequence[str],
    registration_file: Path | None = None,
    conflicts: PortConflicts | None = None,
) -> list[ServiceSpec]:
    ports = settings.ports
    conflicts = conflicts or PortConflicts()
    needs = port_needs(ports)
    livekit_needs = [n for n in needs if n.setting.startswith("ports.livekit_")]
    agent_needs = [n for n in needs if n.setting == "ports.agent_health"]
    livekit_url = f"ws://127.0.0.1:{ports.livekit_http}"
    # our own socket probes: a shortage of descriptors here reads as inconclusive, not as a
    # sick service (supervisor/resources.py)
    livekit_health = http_probe("127.0.0.1", ports.livekit_http, "/", healthy=(200,))
    agent_health = http_probe("127.0.0.1", ports.agent_health, "/", healthy=(200,))
    # the agent needs the LLM keys given in the environment, and its LiveKit pair; no other
    # secret of ours or of the user's environment
    agent_env = {k: v for k, v in without_secrets(environ).items() if not k.startswith("LIVEKIT_")}
    agent_env |= {name: environ[name] for name in ENV_FOR_KEY.values() if environ.get(name)}
    agent_env |= {
        SUPERVISED_VARIABLE: "1",  # its output reaches our log file through us
        "LIVEKIT_URL": livekit_url,
        "LIVEKIT_API_KEY": credentials.api_key,
        "LIVEKIT_API_SECRET": credentials.api_secret,
    }
    return [
        ServiceSpec(
            name="livekit-server",
            argv=server_argv(str(binary), str(config_path)),
            env=server_environment(environ, credentials),
            ready_probe=livekit_health,
            live_probe=livekit_health,
            ready_timeout_s=30.0,
            diagnose=conflicts.diagnose("livekit-server", livekit_needs),
        ),
        ServiceSpec(
            name="agent",
            argv=sidecar_argv(
                [
                    *agent_args,
                    "agent",
                    *(["--registration-file", str(registration_file)] if registration_file else []),
                ]
            ),
            env=agent_env,
            ready_probe=agent_health,
            live_probe=agent_health,
            # loading and warming the speech models takes seconds, more on a first run
            ready_timeout_s=180.0,
            diagnose=conflicts.diagnose("agent", agent_needs),
        ),
    ]


@dataclass
class StackBackend:
    """The control API's view of the running stack."""

    context: CommandContext
    supervisor: Supervisor
    credentials: LiveKitCredentials
    livekit_url: str
    request_stop: Callable[[str], None]
    keys: KeyStatusCache
    models: ModelService | None = None
    registration_file: Path | None = None
    """Written by the agent worker each time it registers (``worker_registration``)."""

    def _ready(self) -> bool:
        status = self.supervisor.status()
        if not all(s.state == "ready" for s in status.values()):
            return False
        server = status.get("livekit-server")
        return self._agent_registered(server.pid if server is not None else None)

    def _agent_registered(self, server_pid: int | None) -> bool:
        """A session only once the worker has registered with this livekit-server process:
        one created before is never dispatched (after a server restart, for ~1-3 s)."""
        if self.registration_file is None:
            return True
        import psutil

        from .worker_registration import registered_at, registered_with_current_server

        try:
            started = psutil.Process(server_pid).create_time() if server_pid else None
        except psutil.Error:
            started = None
        if started is None:
            return False
        return registered_with_current_server(registered_at(self.registration_file), started)

    def _worker_full(self) -> bool:
        if self.registration_file is None:
            return False
        from .worker_registration import worker_load

        load = worker_load(self.registration_file)
        return load is not None and load.full

    def health(self) -> dict[str, Any]:
        status = self.supervisor.status()
        states = {s.state for s in status.values()}
        overall = (
            "fatal"
            if "fatal" in states
            else "ready"
            if states == {"ready"}
            else "starting"
            if states <= {"starting", "ready"}
            else "degraded"
        )
        return {
            "status": overall,
            "services": {
                name: {
                    "state": s.state,
                    "restarts": s.restarts,
                    "pid": s.pid,
                    "last_error": s.last_error,
                }
                for name, s in status.items()
            },
            "llm_key": self.keys.current().state,
        }

    def create_session(self, request: SessionRequest) -> dict[str, Any]:
        if not self._ready():
            raise NotReadyError("the voice backend is not ready yet; retry in a moment")
        if self._worker_full():
            raise AssistantBusyError(BUSY_MESSAGE)
        return mint_session(
            request,
            credentials=self.credentials,
            livekit_url=self.livekit_url,
            agent_name=AGENT_NAME,
        )

    def list_models(self) -> list[dict[str, Any]]:
        return [] if self.models is None else list(self.models.list())

    def pull_model(self, name: str) -> None:
        if self.models is None:
            raise KeyError(name)
        self.models.pull_in_background(name)

    def key_status(self) -> dict[str, Any]:
        return self.keys.current().as_status()

    async def store_key(self, name: str, key: str) -> None:
        value = validate_api_key(key)
        self.context.redactor.add(value)
        # the keyring's worker bounds the wait; the event loop serves other requests meanwhile
        await asyncio.to_thread(self.context.store.set, name, value)
        self.keys.refresh()

    def shutdown(self) -> None:
        self.request_stop("shutdown_request")


def fatal_details(service: str, supervisor: Supervisor, redactor: Redactor) -> dict[str, Any]:
    """What the final ``service_fatal`` event says beyond its message, so that the app can
    show why (``up`` exits right after it, so ``GET /health`` can no longer be asked)."""
    status = supervisor.status().get(service)
    if status is None:
        return {"service": service, "exit_code": None, "signal": None, "log_tail": []}
    return {
        "service": service,
        "exit_code": status.last_exit_code,
        "signal": status.last_signal,
        "log_tail": [redactor.redact(line) for line in status.last_output],
    }


def run_credentials() -> LiveKitCredentials:
    """A LiveKit key pair for this run only: it has to agree between our own children and
    nothing else, so it is never stored, and the keyring is not on the way to ``ready``."""
    import secrets

    return LiveKitCredentials("API" + secrets.token_hex(6), secrets.token_urlsafe(36))


def missing_key_message(state: KeyState) -> str:
    if state.problem:
        return f"No Nebius API key: {missing_key_advice('nebius', state.problem)}."
    return "No Nebius API key is set; add it in settings (PUT /key) or set NEBIUS_API_KEY."


@dataclass(frozen=True)
class StackOptions:
    """How ``up`` was asked to run (from its command line)."""

    parent_pid: int | None
    watch_stdin: bool
    agent_args: Sequence[str]
    dev_origins: Sequence[str]
    log_file: Path
    report_missing_key: bool = True
    """False when the caller already told the user (``start`` says it once, at the start)."""


async def run_stack(context: CommandContext, events: EventWriter, options: StackOptions) -> int:
    settings = context.settings
    events.emit("starting", version=__version__, pid=os.getpid(), log_file=str(options.log_file))
    state_dir = default_state_dir()
    state_dir.mkdir(parents=True, exist_ok=True)
    instance = InstanceFile(state_dir / "instance.json")
    instance.claim(version=__version__)  # a live earlier instance is reported, never adopted
    try:
        return await _run_claimed(context, events, settings, instance, options)
    finally:
        instance.release()


async def _run_claimed(
    context: CommandContext,
    events: EventWriter,
    settings: Settings,
    instance: InstanceFile,
    options: StackOptions,
) -> int:
    log_file = options.log_file
    # every connection, pipe and model file is a descriptor; the usual soft limit is 1,024
    raise_open_file_limit()
    binary = find_livekit_server(environ=context.environ, cache_bin_dir=default_bin_dir())
    check_ports(port_needs(settings.ports))
    credentials = run_credentials()
    context.redactor.add(credentials.api_secret)
    config_path = default_state_dir() / "livekit.yaml"
    registration_file = default_state_dir() / "agent-registration.json"
    registration_file.unlink(missing_ok=True)  # a marker of an earlier run counts for nothing
    ports = settings.ports
    config_path.write_text(
        render_config(LiveKitPorts(ports.livekit_http, None, ports.livekit_rtc_udp)),
        encoding="utf-8",
    )
    loop = asyncio.get_running_loop()
    stop_reason: asyncio.Future[str] = loop.create_future()

    def request_stop(reason: str) -> None:
        def settle() -> None:
            if not stop_reason.done():
                stop_reason.set_result(reason)

        loop.call_soon_threadsafe(settle)

    for signum in (signal.SIGINT, signal.SIGTERM):
        # Windows has no loop signal handlers: Ctrl+C arrives as KeyboardInterrupt
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, request_stop, "signal")

    watchers = _start_watchers(
        options.parent_pid, options.watch_stdin and stdin_is_pipe(), request_stop
    )

    def on_key(state: KeyState) -> None:
        if state.state == "missing" and settings.llm.needs_api_key and options.report_missing_key:
            events.error("missing_api_key", missing_key_message(state), fatal=False)

    # read in the background from now on: a locked keyring delays nothing (KeyStatusCache)
    keys = KeyStatusCache(context.read_llm_key, on_change=on_key)
    keys.refresh()
    models = ModelService.create(settings, model_paths(settings), events)
    # fetched here, with progress events, so the agent starts on models already on disk;
    # the app going away during a long first download still stops us at once
    prepared = _in_daemon_thread(models.prepare, settings)
    waiting: set[asyncio.Future[Any]] = {prepared, stop_reason}
    done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
    if prepared not in done:
        for watcher in watchers:
            watcher.cancel()
        events.emit("stopped", reason=stop_reason.result())
        return 0
    try:
        prepared.result()
    except BaseException:
        for watcher in watchers:
            watcher.cancel()
        raise

    def on_service(event: ServiceEvent) -> None:
        events.emit(
            "service",
            service=event.service,
            state=event.state,
            restarts=event.restarts,
            pid=event.pid,
            message=event.message,
        )

    conflicts = PortConflicts()
    supervisor = Supervisor(
        service_specs(
            settings=settings,
            binary=binary.path,
            config_path=config_path,
            credentials=credentials,
            environ=context.environ,
            agent_args=options.agent_args,
            registration_file=registration_file,
            conflicts=conflicts,
        ),
        on_event=on_service,
    )
    livekit_url = f"ws://127.0.0.1:{ports.livekit_http}"
    backend = StackBackend(
        context=context,
        supervisor=supervisor,
        credentials=credentials,
        livekit_url=livekit_url,
        request_stop=request_stop,
        keys=keys,
        models=models,
        registration_file=registration_file,
    )
    token = new_token()  # announced in the ready event on purpose: not added to the redactor
    port_box = [0]
    control = ControlServer(
        build_app(
            backend, token=token, port_ref=lambda: port_box[0], dev_origins=options.dev_origins
        ),
        port=ports.control_api,
    )
    port_box[0] = await control.start()
    instance.update(
        ports={
            "control_api": port_box[0],
            "livekit_http": ports.livekit_http,
            "agent_health": ports.agent_health,
        }
    )

    def _report_fatal(service: str, message: str) -> int:
        """The final error event of a service that failed for good; the exit code."""
        details = fatal_details(service, supervisor, context.redactor)
        conflict = conflicts.found.get(service)
        if conflict is not None:
            events.error("port_busy", str(conflict), fatal=True, **details)
            return conflict.exit_code
        events.error(
            "service_fatal", f"{message}; see the log at {log_file}", fatal=True, **details
        )
        return EXIT_FATAL

    exit_code = 0
    try:
        start: asyncio.Future[Any] = asyncio.ensure_future(supervisor.start())
        waiting = {start, stop_reason}
        done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        if start in done:
            try:
                start.result()
            except SupervisorStartError as exc:
                request_stop("fatal")
                return _report_fatal(exc.event.service, str(exc))
            events.emit(
                "ready",
                control_url=f"http://127.0.0.1:{port_box[0]}",
                token=token,
                livekit_url=livekit_url,
                log_file=str(log_file),
                llm_key=keys.current().state,
            )
            llm_check = asyncio.ensure_future(
                _report_llm_reachability(settings, keys, events, context.llm_model_given)
            )
            fatal: asyncio.Future[Any] = asyncio.ensure_future(supervisor.wait_fatal())
            waiting = {fatal, stop_reason}
            done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
            if fatal in done:
                event = fatal.result()
                request_stop("fatal")
                exit_code = _report_fatal(
                    event.service,
                    f"{event.service} keeps crashing ({event.message or 'no detail'})",
                )
            else:
                fatal.cancel()
            llm_check.cancel()
        else:
            start.cancel()
    finally:
        reason = await stop_reason if stop_reason.done() else "fatal"
        # why it stops (shutdown_request, stdin_closed, parent_exit, signal, fatal), for the log
        logger.info("stopping (%s)", reason)
        await supervisor.stop()
        await control.close()
        for watcher in watchers:
            watcher.cancel()
        events.emit("stopped", reason=reason)
    return exit_code


async def _report_llm_reachability(
    settings: Settings, keys: KeyStatusCache, events: EventWriter, model_given: bool
) -> None:
    """A non-fatal ``llm_unreachable`` event when the endpoint is down, refuses the key or
    lacks the model, so the app can say so before the user speaks (the agent also apologises
    per turn). With no model given, the agent uses an endpoint's only one (llm_model_choice)."""
    key = await keys.known()
    settings = with_value(settings, "llm.api_key", key.value)
    if settings.llm.missing_api_key:
        return
    try:
        await check_llm_reachable(settings.llm, model_given=model_given)
    except LLMUnreachableError as exc:
        events.error("llm_unreachable", str(exc), fatal=False)


def _in_daemon_thread(fn: Callable[[Settings], None], settings: Settings) -> asyncio.Future[None]:
    """Run ``fn`` on a daemon thread: unlike the loop's executor, nothing waits for it at exit,
    so a download in progress never keeps a stopped sidecar alive."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[None] = loop.create_future()

    def settle(error: BaseException | None) -> None:
        if future.done():
            return
        if error is None:
            future.set_result(None)
        else:
            future.set_exception(error)

    def run() -> None:
        try:
            fn(settings)
        except BaseException as exc:  # noqa: BLE001 - handed to the awaiting coroutine
            loop.call_soon_threadsafe(settle, exc)
        else:
            loop.call_soon_threadsafe(settle, None)

    threading.Thread(target=run, name="prepare-models", daemon=True).start()
    return future


def _start_watchers(
    parent_pid: int | None, watch_stdin: bool, request_stop: Callable[[str], None]
) -> list[asyncio.Task[Any]]:
    from .supervisor.parent_watch import watch_parent

    async def watch() -> None:
        reason = await watch_parent(parent_pid=parent_pid, watch_stdin=watch_stdin)
        request_stop(reason)

    return [asyncio.ensure_future(watch())]
