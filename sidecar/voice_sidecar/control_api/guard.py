"""Who may talk to the control API: a pure decision per request, and its middleware.

Loopback ``Host`` only (DNS rebinding), a Tauri or configured dev ``Origin``
if any, the per-launch bearer token in the header (constant-time compare, never
the query string), JSON bodies of bounded size. Every refusal is a JSON error
with a 4xx status; nothing a client sends can produce a 500.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass

from aiohttp import web
from aiohttp.typedefs import Middleware

from voice_sidecar.log import logger

MAX_BODY_BYTES = 64 * 1024
TAURI_ORIGINS = frozenset(
    {"tauri://localhost", "http://tauri.localhost", "https://tauri.localhost"}
)
_LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "[::1]"})
_QUERY_TOKEN_NAMES = frozenset({"token", "access_token", "auth", "authorization", "key"})


@dataclass(frozen=True)
class Refusal:
    status: int
    code: str
    message: str


def loopback_host(host: str, port: int) -> bool:
    name, sep, given_port = host.rpartition(":") if not host.endswith("]") else (host, "", "")
    if not sep:
        name, given_port = host, ""
    return name.lower() in _LOOPBACK_NAMES and given_port in ("", str(port))


def check_request(
    *,
    method: str,
    host: str | None,
    origin: str | None,
    authorization: str | None,
    query: Collection[str],
    content_type: str | None,
    content_length: int | None,
    token: str,
    port: int,
    allowed_origins: Collection[str],
) -> Refusal | None:
    """None when the request may proceed."""
    if not host or not loopback_host(host, port):
        return Refusal(403, "forbidden_host", "requests must be addressed to 127.0.0.1")
    if origin is not None and origin not in allowed_origins:
        return Refusal(403, "forbidden_origin", "this origin may not use the control API")
    if any(name.lower() in _QUERY_TOKEN_NAMES for name in query):
        return Refusal(
            400, "token_in_query", "send the token in the Authorization header, not the URL"
        )
    scheme, _, supplied = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        supplied.strip().encode(), token.encode()
    ):
        return Refusal(401, "unauthorized", "a valid bearer token is required")
    if content_length is not None and content_length > MAX_BODY_BYTES:
        return Refusal(413, "too_large", f"bodies are limited to {MAX_BODY_BYTES} bytes")
    if method in ("POST", "PUT", "PATCH") and content_length not in (None, 0):
        media = (content_type or "").split(";")[0].strip().lower()
        if media != "application/json":
            return Refusal(415, "not_json", "bodies must be application/json")
    return None


def error_response(
    status: int, code: str, message: str, *, headers: Mapping[str, str] | None = None
) -> web.Response:
    return web.json_response(
        {"error": {"code": code, "message": message}}, status=status, headers=headers
    )


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def cors_headers(origin: str | None, allowed_origins: Collection[str]) -> dict[str, str]:
    if origin is None or origin not in allowed_origins:
        return {}
    return {
        "Access-Control-Allow-Origin": origin,
        "Vary": "Origin",
        "Access-Control-Allow-Headers": "Authorization, Content-Type",
        "Access-Control-Allow-Methods": "GET, POST, PUT, OPTIONS",
        "Access-Control-Max-Age": "600",
    }


def guard_middleware(
    *, token: str, port_ref: Callable[[], int], allowed_origins: Collection[str]
) -> Middleware:
    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        origin = request.headers.get("Origin")
        cors = cors_headers(origin, allowed_origins)
        host = request.headers.get("Host")
        if request.method == "OPTIONS":
            # a browser's preflight carries no token; it learns only what it may send
            if host and loopback_host(host, port_ref()) and cors:
                return web.Response(status=204, headers=cors)
            return error_response(403, "forbidden_origin", "preflight refused")
        refusal = check_request(
            method=request.method,
            host=host,
            origin=origin,
            authorization=request.headers.get("Authorization"),
            query=list(request.query.keys()),
            content_type=request.headers.get("Content-Type"),
            content_length=request.content_length,
            token=token,
            port=port_ref(),
            allowed_origins=allowed_origins,
        )
        if refusal is not None:
            return error_response(refusal.status, refusal.code, refusal.message, headers=cors)
        try:
            response = await handler(request)
        except web.HTTPRequestEntityTooLarge:
            return error_response(
                413, "too_large", f"bodies are limited to {MAX_BODY_BYTES} bytes", headers=cors
            )
        except web.HTTPException as exc:
            return error_response(
                exc.status, exc.reason.lower().replace(" ", "_"), exc.reason, headers=cors
            )
        except (json.JSONDecodeError, UnicodeDecodeError):
            return error_response(400, "bad_json", "the body is not valid JSON", headers=cors)
        except Exception:  # noqa: BLE001 - a bug must still answer as JSON, and be logged
            logger.exception("control API handler failed for %s %s", request.method, request.path)
            return error_response(
                500, "internal", "internal error; see the sidecar log", headers=cors
            )
        response.headers.update(cors)
        return response

    return guard
