"""The agent's model when none was configured: the endpoint's only one, asked once."""

from __future__ import annotations

import socket

from voice_sidecar.llm_model_choice import ServedModelChoice
from voice_sidecar.settings import LlmSettings, Settings
from voice_sidecar.testing.llm_server import FakeLlmServer

NEBIUS_DEFAULT = LlmSettings().model


def _settings(base_url: str, **llm: object) -> Settings:
    return Settings(llm=LlmSettings(base_url=base_url, **llm))  # type: ignore[arg-type]


def test_the_only_model_served_is_used_and_asked_for_once(llm_server: FakeLlmServer) -> None:
    choice = ServedModelChoice(model_given=False)
    settings = _settings(llm_server.base_url)
    assert settings.llm.model == NEBIUS_DEFAULT
    assert choice.apply(settings).llm.model == "fake-model"
    assert choice.apply(settings).llm.model == "fake-model"
    assert llm_server.models_requests == 1


def test_a_given_model_is_kept_without_asking(llm_server: FakeLlmServer) -> None:
    choice = ServedModelChoice(model_given=True)
    settings = _settings(llm_server.base_url, model="my-model")
    assert choice.apply(settings).llm.model == "my-model"
    assert llm_server.models_requests == 0


def test_several_models_served_keep_the_default(llm_server: FakeLlmServer) -> None:
    """Which of several is meant cannot be guessed: `up` says so in its llm_unreachable."""
    llm_server.behaviour.models = ["llama3.2:1b", "qwen2.5:3b"]
    settings = _settings(llm_server.base_url)
    assert ServedModelChoice(model_given=False).apply(settings).llm.model == NEBIUS_DEFAULT


def test_an_endpoint_that_is_down_is_asked_again_next_time(llm_server: FakeLlmServer) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    choice = ServedModelChoice(model_given=False, timeout_s=1.0)
    down = _settings(f"http://127.0.0.1:{closed}/v1")
    assert choice.apply(down).llm.model == NEBIUS_DEFAULT
    # the same worker, once the server is up (another URL here, as a port cannot be reused)
    assert choice.apply(_settings(llm_server.base_url)).llm.model == "fake-model"
    assert llm_server.models_requests == 1


def test_no_question_without_the_key_nebius_needs() -> None:
    """A Nebius endpoint without a key is never called (the agent says the key is missing)."""
    settings = _settings("https://api.studio.nebius.example/v1/")
    assert settings.llm.missing_api_key
    assert ServedModelChoice(model_given=False).apply(settings) is settings
