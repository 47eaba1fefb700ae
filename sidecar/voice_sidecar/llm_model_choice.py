"""The model an agent's conversations ask for when ``llm.model`` was left at its default."""

from __future__ import annotations

import asyncio
import threading

from .errors import LLMUnreachableError
from .llm_client import check_llm_reachable
from .log import logger
from .settings import Settings
from .settings_loader import with_value

log = logger.getChild("llm")


class ServedModelChoice:
    """``converse``'s rule for the agent: with ``llm.model`` at its default (Nebius's model)
    and an endpoint that lists exactly one model (a local llama.cpp server, an Ollama with one
    model pulled), conversations ask for that one rather than for a model it lacks, which
    failed every turn. Asked at each conversation until the endpoint answered once; then the
    answer is kept for the life of the process. A given model is always used as it is."""

    def __init__(self, *, model_given: bool, timeout_s: float = 3.0) -> None:
        self._model_given = model_given
        self._timeout_s = timeout_s
        self._chosen: str | None = None
        self._lock = threading.Lock()

    def apply(self, settings: Settings) -> Settings:
        """``settings`` with the model to ask for; called off the event loop (it may block
        up to ``timeout_s`` on the endpoint's ``GET /models``)."""
        if self._model_given or settings.llm.missing_api_key:
            return settings
        with self._lock:
            if self._chosen is None:
                self._chosen = self._ask(settings)
            chosen = self._chosen
        if chosen is None or chosen == settings.llm.model:
            return settings
        return with_value(settings, "llm.model", chosen)

    def _ask(self, settings: Settings) -> str | None:
        try:
            chosen = asyncio.run(
                check_llm_reachable(settings.llm, timeout_s=self._timeout_s, model_given=False)
            )
        except LLMUnreachableError as exc:
            # `up` reports the endpoint's state itself; each turn apologises meanwhile
            log.info("the LLM model stays %r: %s", settings.llm.model, exc)
            return None
        if chosen != settings.llm.model:
            log.info("no LLM model was given; using %r, the one the endpoint serves", chosen)
        return chosen
