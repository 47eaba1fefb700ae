"""The LiveKit agent worker: one warm process holding the models, dispatched to the user's room.

Jobs run as threads of this process (``JobExecutorType.THREAD``), so Whisper,
Piper and Silero are loaded once, before the worker registers, and every
conversation shares them. A single-user desktop needs one warm job, not a pool
of processes that each hold the models.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .log import logger
from .persona import Persona, session_request_from_metadata
from .runtime import SpeechRuntime
from .settings import Settings

AGENT_NAME = "private-assistant"
LATENCY_TOPIC = "pa.latency"


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


def run_worker(
    runtime: SpeechRuntime,
    settings: Settings,
    connection: WorkerConnection,
    persona_defaults: Persona,
    settings_for_job: Callable[[], Settings] | None = None,
) -> None:
    """Register with livekit-server and serve conversations until stopped (blocking).

    ``settings_for_job`` is asked again for every conversation, so an API key stored
    while the worker runs (``PUT /key``) is used from the next conversation on.
    """
    import asyncio

    from livekit.agents import AgentServer, JobContext, JobExecutorType, llm

    from .session import build_session

    server = AgentServer(
        job_executor_type=JobExecutorType.THREAD,
        num_idle_processes=1,
        host="127.0.0.1",  # the framework's default is every interface
        port=settings.ports.agent_health,
        ws_url=connection.url,
        api_key=connection.api_key,
        api_secret=connection.api_secret,
        # a desktop machine is busy with other things; the one user must still be served
        load_threshold=1.0,
        initialize_process_timeout=60.0,
    )

    async def entrypoint(ctx: JobContext) -> None:
        request = session_request_from_metadata(ctx.job.metadata, defaults=persona_defaults)
        await ctx.connect()
        # off the job's event loop: reading the key may wait for the keyring
        job_settings = (
            await asyncio.to_thread(settings_for_job) if settings_for_job is not None else settings
        )
        session, agent = build_session(runtime, job_settings, request)
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
        # never record: a server that asks for recording (LiveKit Cloud) would get the user's audio
        await session.start(agent, room=ctx.room, record=False)

    server.rtc_session(entrypoint, agent_name=AGENT_NAME)

    async def serve() -> None:
        from .supervisor.parent_watch import stdin_is_pipe, watch_parent

        # under `up` our stdin is a pipe only the supervisor holds: its end means the
        # supervisor is gone (the only signal that reaches us on macOS, and on Windows
        # the polite stop); under Docker or a terminal it is not watched
        running = asyncio.ensure_future(server.run(devmode=False))
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
