"""An OpenAI-compatible chat server on 127.0.0.1 that streams scripted replies.

It speaks the same wire format as Nebius, llama.cpp or Ollama
(``/v1/models``, ``/v1/chat/completions`` with SSE), so the agent under test
runs its real HTTP client. Knobs: time to first token, token pace, HTTP
errors, hanging, reasoning output; every request is recorded.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.client_exceptions import ClientConnectionResetError

ReplyFn = Callable[[list[dict[str, Any]]], str]


def echo_reply(messages: list[dict[str, Any]]) -> str:
    last_user = next((m for m in reversed(messages) if m.get("role") == "user"), None)
    text = _content_text(last_user.get("content")) if last_user else ""
    return f"You said: {text}" if text else "Hello there."


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


@dataclass
class LlmBehaviour:
    first_token_delay_s: float = 0.05
    token_interval_s: float = 0.01
    reply: ReplyFn = echo_reply
    replies: list[str] = field(default_factory=list)
    """Used in order before falling back to ``reply``."""
    fail_status: int | None = None
    fail_count: int = 0
    """How many of the next requests fail with ``fail_status`` (-1: all)."""
    hang: bool = False
    """Accept the request and never send a byte."""
    reasoning: str | None = None
    """Sent first as ``reasoning_content`` deltas and as a ``<think>`` block: never to be spoken."""
    required_api_key: str | None = None
    models: list[str] = field(default_factory=lambda: ["fake-model"])
    """What ``GET /v1/models`` lists."""


@dataclass
class RecordedRequest:
    path: str
    body: dict[str, Any]
    headers: dict[str, str]
    received_at: float


class FakeLlmServer:
    def __init__(self, behaviour: LlmBehaviour | None = None) -> None:
        self.behaviour = behaviour or LlmBehaviour()
        self.requests: list[RecordedRequest] = []
        self.models_requests = 0
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def chat_requests(self) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.path.endswith("/chat/completions")]

    # -- lifecycle --------------------------------------------------------------
    def start(self) -> FakeLlmServer:
        self._thread = threading.Thread(target=self._serve, name="fake-llm", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("fake LLM server did not start")
        return self

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(10)

    def __enter__(self) -> FakeLlmServer:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def _serve(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        app = web.Application()
        app.router.add_get("/v1/models", self._models)
        app.router.add_post("/v1/chat/completions", self._chat)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        self._ready.set()
        await self._stop.wait()
        await self._runner.cleanup()

    # -- handlers ---------------------------------------------------------------
    def _authorised(self, request: web.Request) -> bool:
        key = self.behaviour.required_api_key
        return key is None or request.headers.get("Authorization") == f"Bearer {key}"

    async def _models(self, request: web.Request) -> web.Response:
        with self._lock:
            self.models_requests += 1
        if not self._authorised(request):
            return web.json_response({"error": {"message": "invalid api key"}}, status=401)
        data = [{"id": m, "object": "model", "owned_by": "test"} for m in self.behaviour.models]
        return web.json_response({"object": "list", "data": data})

    def _take_failure(self) -> int | None:
        b = self.behaviour
        with self._lock:
            if b.fail_status is None or b.fail_count == 0:
                return None
            if b.fail_count > 0:
                b.fail_count -= 1
            return b.fail_status

    def _next_reply(self, messages: list[dict[str, Any]]) -> str:
        with self._lock:
            if self.behaviour.replies:
                return self.behaviour.replies.pop(0)
        return self.behaviour.reply(messages)

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        with self._lock:
            self.requests.append(
                RecordedRequest(
                    path=request.path,
                    body=body,
                    headers=dict(request.headers),
                    received_at=time.time(),
                )
            )
        if not self._authorised(request):
            return web.json_response({"error": {"message": "invalid api key"}}, status=401)
        status = self._take_failure()
        if status is not None:
            return web.json_response({"error": {"message": f"scripted {status}"}}, status=status)
        if self.behaviour.hang:
            assert self._stop is not None
            await self._stop.wait()  # until the server stops: a peer that never answers
        text = self._next_reply(body.get("messages", []))
        if not body.get("stream"):
            await asyncio.sleep(self.behaviour.first_token_delay_s)
            return web.json_response(_completion(text, body.get("model", "fake-model")))
        return await self._stream(request, body, text)

    async def _stream(
        self, request: web.Request, body: dict[str, Any], text: str
    ) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        # the client may stop reading (a cancelled or preempted reply), as real ones do
        with contextlib.suppress(ConnectionResetError, ClientConnectionResetError):
            await self._write_stream(response, body, text)
        return response

    async def _write_stream(
        self, response: web.StreamResponse, body: dict[str, Any], text: str
    ) -> None:
        model = body.get("model", "fake-model")
        b = self.behaviour
        await asyncio.sleep(b.first_token_delay_s)
        if b.reasoning:
            for token in _tokens(b.reasoning):
                await response.write(_sse(_chunk(model, {"reasoning_content": token})))
            await response.write(_sse(_chunk(model, {"content": f"<think>{b.reasoning}</think>"})))
        for index, token in enumerate(_tokens(text)):
            if index:
                await asyncio.sleep(b.token_interval_s)
            delta = {"role": "assistant", "content": token} if index == 0 else {"content": token}
            await response.write(_sse(_chunk(model, delta)))
        await response.write(_sse(_chunk(model, {}, finish="stop")))
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()


def _tokens(text: str) -> list[str]:
    words = text.split(" ")
    return [w + (" " if i < len(words) - 1 else "") for i, w in enumerate(words)]


def _chunk(model: str, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


def _completion(text: str, model: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
        ],
    }


def _sse(payload: dict[str, Any]) -> bytes:
    return f"data: {json.dumps(payload)}\n\n".encode()


def main() -> None:
    """``python -m voice_sidecar.testing.llm_server [PORT]``: serve echo replies until Ctrl+C."""
    import sys

    server = FakeLlmServer()
    server.port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    server.start()
    print(f"fake LLM listening on {server.base_url}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
