"""The OpenAI-compatible LLM client: Nebius by default, any base URL accepted."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import httpx2 as httpx
from livekit.agents import APIConnectionError, APIConnectOptions, APIStatusError, APITimeoutError
from livekit.agents.types import NOT_GIVEN
from livekit.plugins import openai as lk_openai

from .errors import LLMUnreachableError
from .redaction import host_label
from .settings import LlmSettings

# Sent when the endpoint needs no key (llama.cpp, Ollama, vLLM): the OpenAI client insists on one.
_PLACEHOLDER_KEY = "no-key-needed"


def build_llm(settings: LlmSettings) -> lk_openai.LLM:
    return lk_openai.LLM(
        model=settings.model,
        api_key=settings.api_key or _PLACEHOLDER_KEY,
        base_url=settings.base_url,
        max_retries=0,  # retries are the session's, see llm_conn_options
        timeout=httpx.Timeout(settings.timeout_s),
        temperature=settings.temperature if settings.temperature is not None else NOT_GIVEN,
        max_completion_tokens=(
            settings.max_completion_tokens
            if settings.max_completion_tokens is not None
            else NOT_GIVEN
        ),
    )


def llm_conn_options(settings: LlmSettings) -> APIConnectOptions:
    return APIConnectOptions(
        max_retry=settings.max_retries, retry_interval=0.5, timeout=settings.timeout_s
    )


def endpoint_label(base_url: str) -> str:
    return host_label(base_url)


@dataclass(frozen=True)
class LlmFailure:
    spoken: str
    """What the assistant says: short, no jargon."""
    logged: str
    """One log line for the developer; no secrets."""


def describe_llm_failure(exc: BaseException, settings: LlmSettings) -> LlmFailure:
    where = endpoint_label(settings.base_url)
    status = _status_of(exc)
    if status in (401, 403):
        return LlmFailure(
            "Sorry, the language model rejected my API key. Please check the key in settings.",
            f"LLM at {where} refused the API key (HTTP {status}); {key_advice(settings)}",
        )
    if status == 404:
        return LlmFailure(
            "Sorry, the language model I am set up to use was not found.",
            f"LLM at {where} has no model {settings.model!r} (HTTP 404)",
        )
    if status == 429:
        return LlmFailure(
            "Sorry, the language model is busy right now. Please try again in a moment.",
            f"LLM at {where} is rate limiting us (HTTP 429)",
        )
    if status is not None:
        return LlmFailure(
            "Sorry, the language model had a problem answering. Please try again.",
            f"LLM at {where} failed with HTTP {status}",
        )
    if _is_timeout(exc):
        return LlmFailure(
            "Sorry, the language model took too long to answer. Please try again.",
            f"LLM at {where} timed out after {settings.timeout_s:g}s",
        )
    return LlmFailure(
        "Sorry, I can't reach the language model right now. Please check the connection.",
        f"LLM at {where} is unreachable: {_cause(exc)}",
    )


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def _status_of(exc: BaseException) -> int | None:
    for item in _chain(exc):
        if isinstance(item, APIStatusError) and item.status_code > 0:
            return item.status_code
    return None


def _is_timeout(exc: BaseException) -> bool:
    return any(
        isinstance(
            item, APITimeoutError | httpx.TimeoutException | asyncio.TimeoutError | TimeoutError
        )
        for item in _chain(exc)
    )


def _cause(exc: BaseException) -> str:
    chain = _chain(exc)
    root = chain[-1]
    if isinstance(root, APIConnectionError) and len(chain) == 1:
        return root.message
    return f"{type(root).__name__}: {str(root).splitlines()[0][:160] if str(root) else ''}".rstrip(
        ": "
    )


def key_advice(settings: LlmSettings) -> str:
    """Where the key for this endpoint comes from: Nebius's is never sent anywhere else."""
    if settings.is_nebius:
        return "set a valid key with 'voice-sidecar key set' or in NEBIUS_API_KEY"
    return (
        "this endpoint wants a key of its own: store it with 'voice-sidecar key set llm' "
        "or set VOICE_SIDECAR_LLM_API_KEY"
    )


def served_models(body: object) -> list[str] | None:
    """The model ids of an OpenAI-style ``GET /models`` answer; None if it is not one."""
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, list):
        return None
    ids = [item.get("id") for item in data if isinstance(item, dict)]
    return [i for i in ids if isinstance(i, str)]


def choose_model(configured: str, *, given: bool, served: list[str] | None, where: str) -> str:
    """The model to ask for. A model the endpoint does not list is refused at the start (every
    turn would fail); when none was given (the default is Nebius's) and the endpoint serves
    exactly one, that one is used. ``served`` None: the endpoint does not list its models."""
    if served is None or not served or configured in served:
        return configured
    if not given and len(served) == 1:
        return served[0]
    shown = ", ".join(served[:8]) + (f" and {len(served) - 8} more" if len(served) > 8 else "")
    what = f"model {configured!r}" if given else f"the default model {configured!r}"
    raise LLMUnreachableError(
        f"the LLM at {where} does not serve {what}; it serves {shown}: choose one with "
        "--llm-model (llm.model)"
    )


async def check_llm_reachable(
    settings: LlmSettings, *, timeout_s: float | None = None, model_given: bool = True
) -> str:
    """Fail fast, with one line, when the endpoint is down, refuses the key or does not serve
    the model; returns the model to use (``choose_model``). Waits at most ``timeout_s``, by
    default the endpoint's own ``llm.timeout_s``.

    ``GET {base_url}/models`` needs no tokens; a server without that route
    (404/405) still proves it is up.
    """
    where = endpoint_label(settings.base_url)
    timeout_s = settings.timeout_s if timeout_s is None else timeout_s
    url = settings.base_url.rstrip("/") + "/models"
    headers = {"Authorization": f"Bearer {settings.api_key or _PLACEHOLDER_KEY}"}
    try:
        # one bound for the whole check: httpx's timeout is per phase (connect, each read)
        async with (
            asyncio.timeout(timeout_s),
            httpx.AsyncClient(timeout=timeout_s, follow_redirects=True) as client,
        ):
            response = await client.get(url, headers=headers)
    except (httpx.TimeoutException, TimeoutError):
        raise LLMUnreachableError(
            f"the LLM at {where} did not answer within {timeout_s:g}s; check --llm-base-url "
            "and that the server is running"
        ) from None
    except httpx.HTTPError as exc:
        raise LLMUnreachableError(
            f"cannot reach the LLM at {where} ({type(exc).__name__}); check --llm-base-url "
            "and that the server is running"
        ) from None
    if response.status_code in (401, 403):
        raise LLMUnreachableError(
            f"the LLM at {where} rejected the API key (HTTP {response.status_code}); "
            + key_advice(settings)
        )
    if response.status_code >= 500:
        raise LLMUnreachableError(
            f"the LLM at {where} answered HTTP {response.status_code}; try again later"
        )
    served = None
    if response.status_code == 200:
        try:
            served = served_models(response.json())
        except ValueError:
            served = None
    return choose_model(settings.model, given=model_given, served=served, where=where)
