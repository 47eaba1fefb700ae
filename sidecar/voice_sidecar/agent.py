"""The assistant: persona, history, and an LLM step that always answers.

Whatever goes wrong with the LLM (no key, refused connection, HTTP error,
timeout), the user hears a short apology, the log gets one line, and the
session carries on listening.
"""

from __future__ import annotations

from collections.abc import AsyncIterable

from livekit import rtc
from livekit.agents import Agent, llm, stt
from livekit.agents.types import FlushSentinel
from livekit.agents.voice.agent import ModelSettings

from .llm_client import describe_llm_failure
from .log import logger
from .persona import Persona, SessionRequest
from .plugins.backchannel import without_backchannels
from .settings import LlmSettings

MISSING_KEY_REPLY = (
    "I can't answer yet because no Nebius API key is set. "
    "Please add your key in the app's settings, or set NEBIUS_API_KEY."
)


def persona_instructions(persona: Persona) -> str:
    return f"Your name is {persona.name}. {persona.instructions}"


def history_context(request: SessionRequest) -> llm.ChatContext:
    ctx = llm.ChatContext.empty()
    for message in request.history:
        ctx.add_message(role=message.role, content=message.text)
    return ctx


class AssistantAgent(Agent):
    def __init__(
        self,
        *,
        request: SessionRequest,
        llm_settings: LlmSettings,
        ignore_backchannels: bool = True,
    ) -> None:
        super().__init__(
            instructions=persona_instructions(request.persona),
            chat_ctx=history_context(request),
        )
        self._llm_settings = llm_settings
        self._ignore_backchannels = ignore_backchannels
        self.persona = request.persona

    async def stt_node(
        self, audio: AsyncIterable[rtc.AudioFrame], model_settings: ModelSettings
    ) -> AsyncIterable[stt.SpeechEvent | str]:
        """The framework's STT node; "mm-hm", a laugh or a cough during a reply is not a turn
        (``plugins/backchannel.py``, ``turn.ignore_backchannels``)."""
        events: AsyncIterable[stt.SpeechEvent | str]
        events = Agent.default.stt_node(self, audio, model_settings)
        if self._ignore_backchannels:
            events = without_backchannels(self, events)
        async for event in events:
            yield event

    async def llm_node(
        self,
        chat_ctx: llm.ChatContext,
        tools: list[llm.Tool],
        model_settings: ModelSettings,
    ) -> AsyncIterable[llm.ChatChunk | str | FlushSentinel]:
        if self._llm_settings.missing_api_key:
            logger.error("no Nebius API key is set; set NEBIUS_API_KEY")
            yield MISSING_KEY_REPLY
            return
        said_something = False
        try:
            async for chunk in Agent.default.llm_node(self, chat_ctx, tools, model_settings):
                if (isinstance(chunk, str) and chunk) or (
                    isinstance(chunk, llm.ChatChunk) and chunk.delta and chunk.delta.content
                ):
                    said_something = True
                yield chunk
        except Exception as exc:  # noqa: BLE001 - any LLM failure must end in an apology
            failure = describe_llm_failure(exc, self._llm_settings)
            logger.error(failure.logged)
            yield (" " + failure.spoken) if said_something else failure.spoken
