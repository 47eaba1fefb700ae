"""The OpenAI-compatible client against a real local HTTP server."""

import socket

import pytest
from livekit.agents import APIConnectOptions, llm

from voice_sidecar.errors import LLMUnreachableError
from voice_sidecar.llm_client import (
    build_llm,
    check_llm_reachable,
    describe_llm_failure,
    endpoint_label,
)
from voice_sidecar.settings import LlmSettings
from voice_sidecar.testing.llm_server import FakeLlmServer


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _chat(settings: LlmSettings) -> str:
    client = build_llm(settings)
    ctx = llm.ChatContext.empty()
    ctx.add_message(role="user", content="Hello there")
    text = ""
    try:
        async with client.chat(
            chat_ctx=ctx, conn_options=APIConnectOptions(max_retry=0, timeout=settings.timeout_s)
        ) as stream:
            async for chunk in stream:
                if chunk.delta and chunk.delta.content:
                    text += chunk.delta.content
    finally:
        await client.aclose()
    return text


async def test_streams_a_reply_and_sends_no_nebius_key_elsewhere(llm_server: FakeLlmServer) -> None:
    settings = LlmSettings(base_url=llm_server.base_url, model="fake-model")
    assert await _chat(settings) == "You said: Hello there"
    request = llm_server.chat_requests()[-1]
    assert request.body["stream"] is True
    assert request.body["model"] == "fake-model"
    assert request.headers["Authorization"] == "Bearer no-key-needed"


async def test_api_key_is_sent_as_bearer(llm_server: FakeLlmServer) -> None:
    llm_server.behaviour.required_api_key = "sk-test-123"
    settings = LlmSettings(base_url=llm_server.base_url, api_key="sk-test-123")
    assert await _chat(settings) == "You said: Hello there"


async def test_reasoning_never_reaches_the_text(llm_server: FakeLlmServer) -> None:
    llm_server.behaviour.reasoning = "The user greets me. I should greet back."
    settings = LlmSettings(base_url=llm_server.base_url)
    text = await _chat(settings)
    assert text.strip() == "You said: Hello there"


@pytest.mark.parametrize(
    ("status", "spoken", "logged"),
    [
        (401, "rejected my API key", "refused the API key (HTTP 401)"),
        (404, "was not found", "HTTP 404"),
        (429, "busy", "rate limiting"),
        (500, "had a problem", "HTTP 500"),
        (503, "had a problem", "HTTP 503"),
    ],
)
async def test_http_errors_are_described(
    llm_server: FakeLlmServer, status: int, spoken: str, logged: str
) -> None:
    llm_server.behaviour.fail_status = status
    llm_server.behaviour.fail_count = -1
    settings = LlmSettings(base_url=llm_server.base_url, api_key="sk-secret-value")
    with pytest.raises(Exception) as caught:  # noqa: PT011 - the type is the framework's
        await _chat(settings)
    failure = describe_llm_failure(caught.value, settings)
    assert spoken in failure.spoken
    assert logged in failure.logged
    assert "sk-secret-value" not in failure.logged + failure.spoken


async def test_timeout_is_described(llm_server: FakeLlmServer) -> None:
    llm_server.behaviour.hang = True
    settings = LlmSettings(base_url=llm_server.base_url, timeout_s=0.5)
    with pytest.raises(Exception) as caught:  # noqa: PT011
        await _chat(settings)
    failure = describe_llm_failure(caught.value, settings)
    assert "took too long" in failure.spoken
    assert "timed out after 0.5s" in failure.logged


async def test_refused_connection_is_described() -> None:
    settings = LlmSettings(base_url=f"http://127.0.0.1:{_closed_port()}/v1")
    with pytest.raises(Exception) as caught:  # noqa: PT011
        await _chat(settings)
    failure = describe_llm_failure(caught.value, settings)
    assert "can't reach" in failure.spoken
    assert "unreachable" in failure.logged


async def test_reachability_check_passes_for_a_live_server(llm_server: FakeLlmServer) -> None:
    settings = LlmSettings(base_url=llm_server.base_url, model="fake-model")
    assert await check_llm_reachable(settings) == "fake-model"
    # no model chosen: the only one served is used rather than Nebius's default
    default = LlmSettings(base_url=llm_server.base_url)
    assert await check_llm_reachable(default, model_given=False) == "fake-model"


@pytest.mark.parametrize(
    ("configured", "given", "served", "chosen"),
    [
        ("m", True, None, "m"),  # the endpoint does not list its models
        ("m", True, [], "m"),
        ("m", True, ["a", "m"], "m"),
        ("nebius-default", False, ["llama"], "llama"),
        ("nebius-default", False, ["a", "b"], LLMUnreachableError),
        ("m", True, ["llama"], LLMUnreachableError),
    ],
)
def test_choose_model(
    configured: str, given: bool, served: list[str] | None, chosen: object
) -> None:
    from voice_sidecar.llm_client import choose_model

    if chosen is LLMUnreachableError:
        with pytest.raises(LLMUnreachableError, match="choose one with --llm-model"):
            choose_model(configured, given=given, served=served, where="h:1")
    else:
        assert choose_model(configured, given=given, served=served, where="h:1") == chosen


async def test_reachability_check_names_a_refused_port() -> None:
    port = _closed_port()
    with pytest.raises(LLMUnreachableError, match=f"cannot reach the LLM at 127.0.0.1:{port}"):
        await check_llm_reachable(LlmSettings(base_url=f"http://127.0.0.1:{port}/v1"))


async def test_reachability_check_reports_a_bad_key(llm_server: FakeLlmServer) -> None:
    llm_server.behaviour.required_api_key = "right"
    with pytest.raises(LLMUnreachableError, match="rejected the API key") as caught:
        await check_llm_reachable(LlmSettings(base_url=llm_server.base_url, api_key="wrong-secret"))
    assert "wrong-secret" not in str(caught.value)


def test_endpoint_label_hides_paths_and_queries() -> None:
    assert endpoint_label("https://user:tok@example.test:8443/v1?key=abc") == "example.test:8443"
    assert endpoint_label("https://api.studio.nebius.com/v1/") == "api.studio.nebius.com"


async def test_the_start_check_honours_llm_timeout() -> None:
    """Issue 15.9: the start-up check waited 5 s although llm.timeout_s was 3."""
    import socket
    import time

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()  # accepts (in the backlog) and never answers
    port = silent.getsockname()[1]
    try:
        started = time.monotonic()
        with pytest.raises(LLMUnreachableError, match=r"did not answer within 0\.5s"):
            await check_llm_reachable(
                LlmSettings(base_url=f"http://127.0.0.1:{port}/v1", timeout_s=0.5)
            )
        assert time.monotonic() - started < 2.0
    finally:
        silent.close()
