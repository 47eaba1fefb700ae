"""Who may talk to the control API: a pure decision per request, and its middleware.

Loopback ``Host`` only (DNS rebinding), a Tauri or configured dev ``Origin`` if any, the
per-launch bearer token in the header (constant-time compare, never the query string),
JSON bodies of bounded size.

No malformed request yields a 500, by construction: every value taken from a request is
read by a total function (``header_bytes``, ``check_request``, ``read_json`` in
``app.py``) that returns a value or raises ``ClientError``, which the middleware answers
with its 4xx status. Only a bug in our own code can still reach the 500 branch, and
``tests/test_control_api_fuzz.py`` drives the documented API (docs/control-api.openapi.json)
with generated requests to find one.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass

from aiohttp import web
from aiohttp.typedefs import Middleware

from voice_sidecar.log import logger

from .connections import mark_authorised
from .limits import MAX_BODY_BYTES

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


class ClientError(Exception):
    """What the client sent is wrong: answered with ``status`` (4xx or 503), never a 500."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def header_bytes(value: str | None) -> bytes:
    """A header's bytes as sent: aiohttp keeps undecodable bytes as surrogate escapes, which
    ``str.encode()`` refuses (``\\xff\\xfe`` in ``Authorization`` was a 500)."""
    if not value:
        return b""
    try:
        return value.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a lone surrogate that no byte produced
        return b"\x00"


def loopback_host(host: str, port: int) -> bool:
    name, sep, given_port = host.rpartition(":") if not host.endswith("]") else (host, "", "")
    if not sep:
        name, given_port = host, ""
    return name.lower() in _LOOPBACK_NAMES and given_port in ("", str(port))


def check_request(
    *,
    host: str | None,
    origin: str | None,
    authorization: str | None,
    query: Collection[str],
    content_type: str | None,
    content_length: int | None,
    has_body: bool,
    token: str,
    port: int,
    allowed_origins: Collection[str],
    max_body_bytes: int = MAX_BODY_BYTES,
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
        header_bytes(supplied.strip()), token.encode()
    ):
        return Refusal(401, "unauthorized", "a valid bearer token is required")
    if content_length is not None and content_length > max_body_bytes:
        return Refusal(413, "too_large", f"bodies are limited to {max_body_bytes} bytes")
    # a chunked body has no length, but it is a body all the same
    if has_body or (content_length or 0) > 0:
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
    *,
    token: str,
    port_ref: Callable[[], int],
    allowed_origins: Collection[str],
    max_body_bytes: int = MAX_BODY_BYTES,
) -> Middleware:
    async def guarded(
        request: web.Request, handler: Handler, cors: dict[str, str]
    ) -> web.StreamResponse:
        host = request.headers.get("Host")
        if request.method == "OPTIONS":
            # a browser's preflight carries no token; it learns only what it may send
            if host and loopback_host(host, port_ref()) and cors:
                return web.Response(status=204, headers=cors)
            return error_response(403, "forbidden_origin", "preflight refused")
        refusal = check_request(
            host=host,
            origin=request.headers.get("Origin"),
            authorization=request.headers.get("Authorization"),
            query=list(request.query.keys()),
            content_type=request.headers.get("Content-Type"),
            content_length=request.content_length,
            has_body=request.body_exists,
            token=token,
            port=port_ref(),
            allowed_origins=allowed_origins,
            max_body_bytes=max_body_bytes,
        )
        if refusal is not None:
            raise ClientError(refusal.status, refusal.code, refusal.message)
        mark_authorised(request)
        response = await handler(request)
        response.headers.update(cors)
        return response

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        cors = cors_headers(request.headers.get("Origin"), allowed_origins)
        try:
            return await guarded(request, handler, cors)
        except ClientError as exc:
            return error_response(exc.status, exc.code, exc.message, headers=cors)
        except web.HTTPRequestEntityTooLarge:
            return error_response(
                413, "too_large", f"bodies are limited to {max_body_bytes} bytes", headers=cors
            )
        except web.HTTPException as exc:  # the router's 404 and 405
            return error_response(
                exc.status, exc.reason.lower().replace(" ", "_"), exc.reason, headers=cors
            )
        except Exception:  # noqa: BLE001 - a bug must still answer as JSON, and be logged
            logger.exception("control API handler failed for %s %s", request.method, request.path)
            return error_response(
                500, "internal", "internal error; see the sidecar log", headers=cors
            )

    return guard
