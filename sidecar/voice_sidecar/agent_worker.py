"""The LiveKit agent worker: one warm process holding the models, dispatched to the user's room.

Jobs run as threads of this process (``JobExecutorType.THREAD``), so Whisper,
Piper and Silero are loaded once, before the worker registers, and every
conversation shares them. A single-user desktop needs one warm job, not a pool
of processes that each hold the models.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import threading
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .log import logger
from .native_memory import release_free_memory
from .persona import Persona, session_request_from_metadata
from .runtime import SpeechRuntime
from .settings import Settings

AGENT_NAME = "private-assistant"
LATENCY_TOPIC = "pa.latency"
USER_GONE_GRACE_S = 5.0
"""After the user left, the job ends this much later if its session has not ended it."""
NO_USER_TIMEOUT_S = 20.0
"""A job whose room has no user this long after it joined ends (livekit-server's own
departure timeout is 20 s too)."""
PRELOAD_LOCAL_INFERENCE = "LIVEKIT_AGENTS_PRELOAD_LOCAL_INFERENCE"
"""LiveKit Agents 1.8.9 (``ipc/_preload.py``) loads its local VAD and end-of-turn model into
a worker whose jobs are threads, when its first job executor starts: +244 MB RSS for models
no session of ours uses (Silero is the plugin's, the turn detection VAD or text). "0" skips
that step."""


@dataclass(frozen=True)
class WorkerConnection:
    url: str
    api_key: str
    api_secret: str

    def __repr__(self) -> str:
        return f"WorkerConnection(url={self.url!r}, api_key={self.api_key!r}, api_secret='***')"


def latency_report(
    user: Mapping[str, Any], assistant: Mapping[str, Any]
) -> dict[str, float | None]:
    """The per-turn figures the desktop app shows, from the two messages' metrics."""

    def pick(source: Mapping[str, Any], key: str) -> float | None:
        value = source.get(key)
        return round(float(value), 3) if isinstance(value, int | float) else None

    return {
        "end_of_turn_s": pick(user, "end_of_turn_delay"),
        "stt_s": pick(user, "transcription_delay"),
        "llm_ttft_s": pick(assistant, "llm_node_ttft"),
        "llm_first_sentence_s": pick(assistant, "llm_node_ttfs"),
        "tts_ttfb_s": pick(assistant, "tts_node_ttfb"),
        "e2e_s": pick(assistant, "e2e_latency"),
    }


def conversation_load(open_conversations: int, capacity: int) -> float:
    """The load the worker reports to livekit-server: 1.0 (full, send no job) once it holds
    ``capacity`` open conversations; always 0.0 without a capacity (0). Never the CPU: see
    ``run_worker``."""
    if capacity <= 0:
        return 0.0
    return min(1.0, open_conversations / capacity)


class OpenConversations:
    """Conversations that have started and not yet closed. A job whose user has left takes a
    few seconds more to end; counting jobs instead would refuse a user who reopens the voice
    view at once (livekit-server drops a dispatch no worker has room for: no agent comes)."""

    def __init__(self, on_change: Callable[[int], None] | None = None) -> None:
        self._count = 0
        self._lock = threading.Lock()
        self._on_change = on_change

    def opened(self) -> None:
        with self._lock:
            self._count += 1
            self._changed()

    def closed(self) -> None:
        with self._lock:
            self._count = max(0, self._count - 1)
            self._changed()

    def _changed(self) -> None:
        if self._on_change is not None:
            self._on_change(self._count)

    @property
    def count(self) -> int:
        with self._lock:
            return self._count


async def _as_coroutine(function: Callable[[], None]) -> None:
    function()


_background: set[asyncio.Future[Any]] = set()


def _spawn(coroutine: Coroutine[Any, Any, None]) -> None:
    task = asyncio.ensure_future(coroutine)
    _background.add(task)
    task.add_done_callback(_background.discard)


def _drain_on_signals(
    loop: asyncio.AbstractEventLoop,
    server: Any,
    timeout_s: float,
    conversations: OpenConversations,
) -> None:
    import signal

    draining: list[asyncio.Future[Any]] = []

    async def drain_then_stop() -> None:
        logger.warning(
            "SIGTERM: draining: no new conversation; %d open ones may finish (up to %.0f s)",
            conversations.count,
            timeout_s,
        )
        try:
            if timeout_s > 0:  # 0: stop at once, like under `up`
                await server.drain(timeout=max(1, round(timeout_s)))
        except TimeoutError:
            logger.warning("drain: %d conversations still open: stopping", conversations.count)
        else:
            logger.warning("drain: every conversation finished: stopping")
        await server.aclose()

    def on_term() -> None:
        if draining:
            logger.warning("a second stop signal: stopping now")
            draining[0].cancel()
            _spawn(server.aclose())
            return
        draining.append(asyncio.ensure_future(drain_then_stop()))

    def on_interrupt() -> None:
        logger.warning("SIGINT: stopping now")
        _spawn(server.aclose())

    with contextlib.suppress(NotImplementedError, RuntimeError):  # Windows: no loop signals
        loop.add_signal_handler(signal.SIGTERM, on_term)
        loop.add_signal_handler(signal.SIGINT, on_interrupt)


async def _push_status(server: Any) -> None:
    """Tell livekit-server the worker's load now, not at the framework's next status update
    (every 2.5 s): until then the server still sees a worker that just freed a place as full
    and drops the next room's dispatch (the user would wait in a room no agent joins).
    livekit-agents 1.8.9 has no public call for it; without these methods the periodic update
    is all there is."""
    refresh = getattr(server, "_refresh_worker_load", None)
    update = getattr(server, "_update_worker_status", None)
    if refresh is None or update is None:
        return
    try:
        await refresh()
        await update()
    except Exception as exc:  # noqa: BLE001 - the periodic update follows anyway
        logger.debug("could not push the worker's status now: %s", exc)


def run_worker(
    runtime: SpeechRuntime,
    settings: Settings,
    connection: WorkerConnection,
    persona_defaults: Persona,
    settings_for_job: Callable[[], Settings] | None = None,
    registration_file: Path | None = None,
    drain_on_sigterm: bool = False,
) -> None:
    """Register with livekit-server and serve conversations until stopped (blocking).

    ``drain_on_sigterm`` (a service, not under ``up``): SIGTERM tells livekit-server the worker
    is full, lets its open conversations finish (``worker.drain_timeout_s`` at most), then
    stops; a second SIGTERM or SIGINT stops at once. Under ``up`` SIGTERM stops at once: the
    supervisor stops its children only when the whole stack goes.

    ``settings_for_job`` is asked again for every conversation, so an API key stored
    while the worker runs (``PUT /key``) is used from the next conversation on.
    """
    from livekit import rtc
    from livekit.agents import AgentServer, JobContext, JobExecutorType, llm

    from . import room_audio
    from .session import build_session, close_session_llm
    from .worker_registration import RegistrationMarker

    # every room this worker serves silences the agent's voice at once on a barge-in
    room_audio.install()
    # read when the framework starts its (thread) job executor, so before AgentServer runs
    os.environ.setdefault(PRELOAD_LOCAL_INFERENCE, "0")
    capacity = settings.worker.max_conversations
    marker = (
        RegistrationMarker(registration_file, capacity) if registration_file is not None else None
    )
    worker_loop: list[asyncio.AbstractEventLoop] = []

    def on_conversations(open_now: int) -> None:
        # a conversation more: `up` refuses new sessions at once; one fewer: only once
        # livekit-server has been told, or the session it hands out would get no agent
        if marker is not None and (not worker_loop or open_now > marker.open_conversations):
            marker.conversations(open_now)
        if worker_loop:
            worker_loop[0].call_soon_threadsafe(lambda: _spawn(after_change()))

    async def after_change() -> None:
        if capacity > 0:
            await _push_status(server)
        if marker is not None:
            marker.conversations(conversations.count)

    conversations = OpenConversations(on_conversations)
    server = AgentServer(
        job_executor_type=JobExecutorType.THREAD,
        num_idle_processes=1,
        host="127.0.0.1",  # the framework's default is every interface
        port=settings.ports.agent_health,
        ws_url=connection.url,
        api_key=connection.api_key,
        api_secret=connection.api_secret,
        # the worker's load is its share of conversations, not the machine's CPU: a desktop is
        # busy with other things (a build, a video call) and its one user must still be served
        load_fnc=lambda: conversation_load(conversations.count, capacity),
        load_threshold=1.0,
        initialize_process_timeout=60.0,
    )

    async def entrypoint(ctx: JobContext) -> None:
        request = session_request_from_metadata(ctx.job.metadata, defaults=persona_defaults)
        conversations.opened()
        closed_once = threading.Event()

        def conversation_over() -> None:
            if not closed_once.is_set():
                closed_once.set()
                conversations.closed()
                release_free_memory()  # the session's buffers, or RSS stays at its peak

        ctx.add_shutdown_callback(lambda: _as_coroutine(conversation_over))
        await ctx.connect()

        async def end_without_user() -> None:
            # a job in a room no user ever joins would count (and hold its thread) until the
            # room closes: seen when a node of a cluster stopped, its rooms were re-created on
            # another node by the agents' own reconnects, and each got a new dispatch
            try:
                await asyncio.wait_for(ctx.wait_for_participant(), NO_USER_TIMEOUT_S)
            except TimeoutError:
                logger.info("no user joined within %.0f s: ending the job", NO_USER_TIMEOUT_S)
                conversation_over()
                ctx.shutdown(reason="no user joined")

        watchdog = asyncio.ensure_future(end_without_user())
        # off the job's event loop: reading the key may wait for the keyring
        job_settings = (
            await asyncio.to_thread(settings_for_job) if settings_for_job is not None else settings
        )
        session, agent = build_session(runtime, job_settings, request)
        ctx.add_shutdown_callback(lambda: close_session_llm(session))
        last_user: dict[str, Any] = {}
        pending: set[asyncio.Future[Any]] = set()

        def on_item(event: Any) -> None:
            item = event.item
            if not isinstance(item, llm.ChatMessage):
                return
            if item.role == "user":
                last_user.clear()
                last_user.update(item.metrics or {})
                return
            if item.role != "assistant":
                return
            report = latency_report(last_user, item.metrics or {})
            logger.info("turn latency %s", json.dumps(report))
            task = asyncio.ensure_future(
                ctx.room.local_participant.send_text(json.dumps(report), topic=LATENCY_TOPIC)
            )
            pending.add(task)
            task.add_done_callback(pending.discard)

        session.on("conversation_item_added", on_item)
        pending.add(watchdog)
        watchdog.add_done_callback(pending.discard)

        def on_close(event: Any) -> None:
            # the session closes when the user leaves; without this the job (a thread holding
            # its room connection) stays until the server's room timeouts end it, 20 s to 5 min
            logger.info("conversation closed (%s): ending the job", getattr(event, "reason", ""))
            logger.info("%s", runtime.whisper.queue.line())
            conversation_over()
            ctx.shutdown(reason="conversation closed")

        session.on("close", on_close)

        job_loop = asyncio.get_running_loop()

        def on_participant_left(participant: Any) -> None:
            # the user is gone: the worker has room again now, while the session still takes
            # about 2 s to close (the framework's own wind-down). The session does not close
            # for every way of leaving (seen: the user's node of a cluster stopped; the job
            # then lived on, and a drain waited for it), so the job ends shortly after anyway
            if participant.kind != rtc.ParticipantKind.PARTICIPANT_KIND_AGENT:
                conversation_over()
                job_loop.call_later(USER_GONE_GRACE_S, end_if_still_alone)

        def end_if_still_alone() -> None:
            # a user who is back (livekit-server restarted and their SDK resumed into the
            # re-created room) keeps the conversation
            users = [
                p
                for p in ctx.room.remote_participants.values()
                if p.kind != rtc.ParticipantKind.PARTICIPANT_KIND_AGENT
            ]
            if not users:
                ctx.shutdown(reason="the user left")

        ctx.room.on("participant_disconnected", on_participant_left)
        # never record: a server that asks for recording (LiveKit Cloud) would get the user's
        # audio. The room is not deleted from here: the API client that would do it leaves a
        # thread behind in every job (threads grew by one a session); livekit-server closes
        # the empty room 20 s after the user left (departure_timeout), the job ends at once.
        await session.start(agent, room=ctx.room, record=False)

    server.rtc_session(entrypoint, agent_name=AGENT_NAME)
    if marker is not None:
        registration = marker

        def on_registered(worker_id: str, _info: Any) -> None:
            logger.info("registered with livekit-server as %s", worker_id)
            registration.registered(worker_id)

        server.on("worker_registered", on_registered)

    async def serve() -> None:
        from .supervisor.parent_watch import stdin_is_pipe, watch_parent

        # under `up` our stdin is a pipe only the supervisor holds: its end means the
        # supervisor is gone (the only signal that reaches us on macOS, and on Windows
        # the polite stop); under Docker or a terminal it is not watched
        loop = asyncio.get_running_loop()
        worker_loop.append(loop)
        running = asyncio.ensure_future(server.run(devmode=False))
        if drain_on_sigterm:
            _drain_on_signals(loop, server, settings.worker.drain_timeout_s, conversations)
        if not stdin_is_pipe():
            await running
            return
        watcher = asyncio.ensure_future(watch_parent(watch_stdin=True))
        done, _ = await asyncio.wait({running, watcher}, return_when=asyncio.FIRST_COMPLETED)
        if watcher in done:
            logger.info("the supervisor is gone (%s): stopping the worker", watcher.result())
            await server.aclose()
        else:
            watcher.cancel()
        await running

    asyncio.run(serve())
