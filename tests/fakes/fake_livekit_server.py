"""A stand-in for the livekit-server binary, for machines that have none.

It behaves like the real server in what the sidecar relies on: it is started
with ``--config FILE`` (and refuses ``--dev``), binds only what the config
says, takes its keys from ``LIVEKIT_KEYS``, answers ``GET /`` with ``OK``, and
speaks the agent-worker protocol on ``/agent`` far enough to register a worker
(JWT checked with the configured secret). Every registration is appended to
the JSON-lines file named by ``FAKE_LIVEKIT_RECORD``. No media: rooms, tracks
and WebRTC are not simulated; tests that need them run against the real server.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
from pathlib import Path

import jwt
from aiohttp import WSMsgType, web
from livekit.protocol import agent


def _config_value(text: str, key: str) -> str | None:
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith(f"{key}:"):
            return stripped.split(":", 1)[1].strip()
    return None


def _append(path: Path, line: str) -> None:
    with path.open("a", encoding="utf-8") as out:
        out.write(line + "\n")


def _fail(message: str) -> None:
    print(f"fake-livekit-server: {message}", file=sys.stderr, flush=True)
    sys.exit(2)


def main() -> None:
    args = sys.argv[1:]
    if "--dev" in args:
        _fail("refusing --dev: its keys are public")
    if "--config" not in args:
        _fail("--config is required")
    text = Path(args[args.index("--config") + 1]).read_text(encoding="utf-8")
    port = int(_config_value(text, "port") or 7880)
    if "- 127.0.0.1" not in text or "0.0.0.0" in text:
        _fail("bind_addresses must be 127.0.0.1 only")
    keys = os.environ.get("LIVEKIT_KEYS", "")
    if ": " not in keys:
        _fail("LIVEKIT_KEYS is not set")
    api_key, api_secret = (part.strip() for part in keys.split(":", 1))
    record = os.environ.get("FAKE_LIVEKIT_RECORD")

    async def health(_: web.Request) -> web.Response:
        return web.Response(text="OK")

    async def agent_ws(request: web.Request) -> web.StreamResponse:
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        try:
            claims = jwt.decode(token, api_secret, algorithms=["HS256"])
        except jwt.PyJWTError:
            return web.Response(status=401, text="invalid token")
        if claims.get("iss") != api_key or not claims.get("video", {}).get("agent"):
            return web.Response(status=403, text="not an agent token")
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        first = await ws.receive()
        message = agent.WorkerMessage()
        message.ParseFromString(first.data)
        reply = agent.ServerMessage()
        reply.register.worker_id = "AW_fake"
        reply.register.server_info.version = "fake"
        await ws.send_bytes(reply.SerializeToString())
        if record:
            line = json.dumps(
                {"agent_name": message.register.agent_name, "server_pid": os.getpid()}
            )
            await asyncio.to_thread(_append, Path(record), line)
        async for msg in ws:
            if msg.type in (WSMsgType.CLOSE, WSMsgType.ERROR):
                break
        return ws

    app = web.Application()
    app.router.add_get("/", health)
    app.router.add_get("/agent", agent_ws)

    async def serve() -> None:
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        print(f"fake-livekit-server listening on 127.0.0.1:{port}", file=sys.stderr, flush=True)
        await asyncio.Event().wait()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())


if __name__ == "__main__":
    main()
