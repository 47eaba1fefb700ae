"""Routes of the control API (see docs/sidecar-protocol.md)."""

from __future__ import annotations

import json
import secrets
from collections.abc import Collection
from typing import Any

from aiohttp import web

from voice_sidecar.errors import UserFacingError
from voice_sidecar.persona import parse_session_request
from voice_sidecar.secret_store import KeyringError

from .backend import ControlBackend
from .guard import MAX_BODY_BYTES, TAURI_ORIGINS, error_response, guard_middleware


def new_token() -> str:
    return secrets.token_urlsafe(32)


async def _json_body(request: web.Request) -> Any:
    raw = await request.read()
    if not raw:
        raise web.HTTPBadRequest(reason="Empty body")
    return json.loads(raw.decode("utf-8"))


def build_app(
    backend: ControlBackend,
    *,
    token: str,
    port_ref: Any,
    dev_origins: Collection[str] = (),
) -> web.Application:
    app = web.Application(
        client_max_size=MAX_BODY_BYTES,
        middlewares=[
            guard_middleware(
                token=token, port_ref=port_ref, allowed_origins=TAURI_ORIGINS | set(dev_origins)
            )
        ],
    )

    async def health(_: web.Request) -> web.Response:
        return web.json_response(backend.health())

    async def session(request: web.Request) -> web.Response:
        body = await _json_body(request)
        try:
            parsed = parse_session_request(body)
        except UserFacingError as exc:
            return error_response(422, "invalid_session_request", str(exc))
        try:
            return web.json_response(backend.create_session(parsed))
        except UserFacingError as exc:
            return error_response(503, "not_ready", str(exc))

    async def models(_: web.Request) -> web.Response:
        return web.json_response({"models": backend.list_models()})

    async def pull(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        try:
            backend.pull_model(name)
        except KeyError:
            return error_response(404, "unknown_model", f"no model named {name!r} in the catalog")
        except UserFacingError as exc:
            return error_response(409, "cannot_pull", str(exc))
        return web.json_response({"status": "started"}, status=202)

    async def key_status(_: web.Request) -> web.Response:
        return web.json_response(backend.key_status())

    async def put_key(request: web.Request) -> web.Response:
        body = await _json_body(request)
        if not isinstance(body, dict) or not isinstance(body.get("key"), str):
            return error_response(
                422, "invalid_key_request", 'send {"name": "nebius", "key": "..."}'
            )
        name = body.get("name", "nebius")
        if name not in ("nebius", "llm"):
            return error_response(422, "invalid_key_request", "name must be 'nebius' or 'llm'")
        try:
            backend.store_key(name, body["key"])
        except KeyringError as exc:
            return error_response(503, "keyring_unavailable", str(exc))
        except UserFacingError as exc:
            return error_response(422, "invalid_key", str(exc))
        return web.Response(status=204)

    async def shutdown(_: web.Request) -> web.Response:
        backend.shutdown()
        return web.json_response({"status": "stopping"}, status=202)

    app.router.add_get("/health", health)
    app.router.add_post("/session", session)
    app.router.add_get("/models", models)
    app.router.add_post("/models/{name}/pull", pull)
    app.router.add_get("/key/status", key_status)
    app.router.add_put("/key", put_key)
    app.router.add_post("/shutdown", shutdown)
    return app
