"""Routes of the control API (see docs/sidecar-protocol.md and docs/control-api.openapi.json)."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable, Collection

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from voice_sidecar.bounded_json import BadJsonError, loads_bounded
from voice_sidecar.errors import AssistantBusyError, UserFacingError
from voice_sidecar.persona import parse_session_request
from voice_sidecar.secret_store import KeyringError

from .backend import ControlBackend
from .guard import TAURI_ORIGINS, ClientError, error_response, guard_middleware
from .limits import ServerLimits


def new_token() -> str:
    return secrets.token_urlsafe(32)


async def read_json(request: web.Request, limits: ServerLimits) -> object:
    """The body as JSON, or ``ClientError``: too slow (408), too large (413), not JSON (400)."""
    try:
        async with asyncio.timeout(limits.body_timeout_s):
            raw = await request.read()
    except TimeoutError:
        raise ClientError(
            408, "body_timeout", f"the body did not arrive within {limits.body_timeout_s:g}s"
        ) from None
    except web.HTTPRequestEntityTooLarge:
        raise ClientError(
            413, "too_large", f"bodies are limited to {limits.max_body_bytes} bytes"
        ) from None
    except HttpProcessingError:  # e.g. broken chunked encoding
        raise ClientError(400, "bad_body", "the body is not well-formed HTTP") from None
    if not raw:
        raise ClientError(400, "empty_body", "this request needs a JSON body")
    try:
        return loads_bounded(raw, max_bytes=limits.max_body_bytes)
    except BadJsonError as exc:
        raise ClientError(400, "bad_json", f"the body is {exc}") from None


def _shown(name: str) -> str:
    return repr(name if len(name) <= 64 else name[:61] + "...")


def build_app(
    backend: ControlBackend,
    *,
    token: str,
    port_ref: Callable[[], int],
    dev_origins: Collection[str] = (),
    limits: ServerLimits | None = None,
) -> web.Application:
    limits = limits or ServerLimits()
    app = web.Application(
        client_max_size=limits.max_body_bytes,
        middlewares=[
            guard_middleware(
                token=token,
                port_ref=port_ref,
                allowed_origins=TAURI_ORIGINS | set(dev_origins),
                max_body_bytes=limits.max_body_bytes,
            )
        ],
    )

    async def health(_: web.Request) -> web.Response:
        return web.json_response(backend.health())

    async def session(request: web.Request) -> web.Response:
        body = await read_json(request, limits)
        if not isinstance(body, dict):
            return error_response(
                422, "invalid_session_request", "the session request must be a JSON object"
            )
        try:
            parsed = parse_session_request(body)
        except UserFacingError as exc:
            return error_response(422, "invalid_session_request", str(exc))
        try:
            return web.json_response(backend.create_session(parsed))
        except AssistantBusyError as exc:
            return error_response(503, "assistant_busy", str(exc))
        except UserFacingError as exc:
            return error_response(503, "not_ready", str(exc))

    async def models(_: web.Request) -> web.Response:
        return web.json_response({"models": backend.list_models()})

    async def pull(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        try:
            backend.pull_model(name)
        except KeyError:
            return error_response(
                404, "unknown_model", f"no model named {_shown(name)} in the catalog"
            )
        except UserFacingError as exc:
            return error_response(409, "cannot_pull", str(exc))
        return web.json_response({"status": "started"}, status=202)

    async def key_status(_: web.Request) -> web.Response:
        return web.json_response(backend.key_status())

    async def put_key(request: web.Request) -> web.Response:
        body = await read_json(request, limits)
        if not isinstance(body, dict) or not isinstance(body.get("key"), str):
            return error_response(
                422, "invalid_key_request", 'send {"name": "nebius", "key": "..."}'
            )
        name = body.get("name", "nebius")
        if name not in ("nebius", "llm"):
            return error_response(422, "invalid_key_request", "name must be 'nebius' or 'llm'")
        try:
            await backend.store_key(name, body["key"])
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
