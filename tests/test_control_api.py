"""The control API over real HTTP on 127.0.0.1: who may call it, and what it answers."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from livekit import api

from voice_sidecar.control_api.app import build_app, new_token
from voice_sidecar.control_api.limits import MAX_BODY_BYTES
from voice_sidecar.control_api.server import ControlServer
from voice_sidecar.control_api.session_tokens import mint_session
from voice_sidecar.persona import SessionRequest, session_request_from_metadata
from voice_sidecar.secret_store import (
    KeyringUnavailableError,
    LiveKitCredentials,
    validate_api_key,
)

CREDENTIALS = LiveKitCredentials("APIcontrol", "c" * 48)


@dataclass
class RecordingBackend:
    stored: dict[str, str] = field(default_factory=dict)
    pulled: list[str] = field(default_factory=list)
    stopped: bool = False
    keyring_works: bool = True

    def health(self) -> dict[str, Any]:
        return {"status": "ready", "services": {}, "llm_key": "available"}

    def create_session(self, request: SessionRequest) -> dict[str, Any]:
        return mint_session(
            request,
            credentials=CREDENTIALS,
            livekit_url="ws://127.0.0.1:7880",
            agent_name="private-assistant",
        )

    def list_models(self) -> list[dict[str, Any]]:
        return [{"name": "tiny.en", "kind": "whisper", "installed": True}]

    def pull_model(self, name: str) -> None:
        if name != "tiny.en":
            raise KeyError(name)
        self.pulled.append(name)

    def key_status(self) -> dict[str, Any]:
        return {"available": "nebius" in self.stored, "source": "keyring"}

    async def store_key(self, name: str, key: str) -> None:
        key = validate_api_key(key)
        if not self.keyring_works:
            raise KeyringUnavailableError("no OS keyring is available; set NEBIUS_API_KEY")
        self.stored[name] = key

    def shutdown(self) -> None:
        self.stopped = True


@dataclass
class Api:
    url: str
    port: int
    token: str
    backend: RecordingBackend
    session: aiohttp.ClientSession

    def headers(self, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", "Host": f"127.0.0.1:{self.port}", **extra}


@pytest.fixture
async def control() -> AsyncIterator[Api]:
    backend = RecordingBackend()
    token = new_token()
    port_box: list[int] = [0]
    app = build_app(
        backend, token=token, port_ref=lambda: port_box[0], dev_origins={"http://localhost:5173"}
    )
    server = ControlServer(app)
    port_box[0] = await server.start()
    async with aiohttp.ClientSession() as session:
        yield Api(f"http://127.0.0.1:{port_box[0]}", port_box[0], token, backend, session)
    await server.close()


async def raw_exchange(port: int, request: bytes) -> tuple[int, bytes]:
    """Send bytes as they are (no client library tidies them up); the status and body."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        await writer.drain()
        async with asyncio.timeout(10):
            answer = await reader.read()
    finally:
        writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


async def _call(api_: Api, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
    async with api_.session.request(method, api_.url + path, **kwargs) as response:
        text = await response.text()
        try:
            return response.status, json.loads(text) if text else None
        except json.JSONDecodeError:
            return response.status, text


async def test_health_with_the_token(control: Api) -> None:
    status, body = await _call(control, "GET", "/health", headers=control.headers())
    assert status == 200
    assert body["status"] == "ready"


@pytest.mark.parametrize(
    ("headers", "status", "code"),
    [
        ({"Authorization": ""}, 401, "unauthorized"),
        ({"Authorization": "Bearer wrong"}, 401, "unauthorized"),
        ({"Authorization": "Basic abc"}, 401, "unauthorized"),
        ({"Host": "evil.example:80"}, 403, "forbidden_host"),
        ({"Host": "127.0.0.1.evil.example"}, 403, "forbidden_host"),
        ({"Host": "127.0.0.1:1"}, 403, "forbidden_host"),
        ({"Origin": "https://evil.example"}, 403, "forbidden_origin"),
        ({"Origin": "null"}, 403, "forbidden_origin"),
    ],
)
async def test_refusals(control: Api, headers: dict[str, str], status: int, code: str) -> None:
    got, body = await _call(control, "GET", "/health", headers=control.headers(**headers))
    assert got == status
    assert body["error"]["code"] == code


async def test_allowed_origins_and_loopback_names(control: Api) -> None:
    for host in (f"localhost:{control.port}", f"[::1]:{control.port}"):
        status, _ = await _call(control, "GET", "/health", headers=control.headers(Host=host))
        assert status == 200
    for origin in ("tauri://localhost", "http://tauri.localhost", "http://localhost:5173"):
        async with control.session.get(
            control.url + "/health", headers=control.headers(Origin=origin)
        ) as response:
            assert response.status == 200
            assert response.headers["Access-Control-Allow-Origin"] == origin


async def test_preflight_is_answered_without_the_token(control: Api) -> None:
    headers = {
        "Host": f"127.0.0.1:{control.port}",
        "Origin": "tauri://localhost",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type",
    }
    async with control.session.options(control.url + "/session", headers=headers) as response:
        assert response.status == 204
        assert "Authorization" in response.headers["Access-Control-Allow-Headers"]
    headers["Origin"] = "https://evil.example"
    async with control.session.options(control.url + "/session", headers=headers) as response:
        assert response.status == 403


async def test_a_token_in_the_query_string_is_refused(control: Api) -> None:
    status, body = await _call(
        control, "GET", f"/health?token={control.token}", headers=control.headers()
    )
    assert status == 400
    assert body["error"]["code"] == "token_in_query"


async def test_bodies_must_be_small_json(control: Api) -> None:
    status, body = await _call(
        control,
        "POST",
        "/session",
        data="version=1",
        headers=control.headers(**{"Content-Type": "text/plain"}),
    )
    assert (status, body["error"]["code"]) == (415, "not_json")
    status, body = await _call(
        control,
        "POST",
        "/session",
        data="{not json",
        headers=control.headers(**{"Content-Type": "application/json"}),
    )
    assert (status, body["error"]["code"]) == (400, "bad_json")
    big = json.dumps({"version": 1, "persona": {"instructions": "x" * (MAX_BODY_BYTES + 10)}})
    status, body = await _call(
        control,
        "POST",
        "/session",
        data=big,
        headers=control.headers(**{"Content-Type": "application/json"}),
    )
    assert (status, body["error"]["code"]) == (413, "too_large")


async def test_session_mints_a_token_carrying_the_persona(control: Api) -> None:
    request = {
        "version": 1,
        "persona": {"name": "Ada", "instructions": "Be brief."},
        "history": [{"role": "user", "text": "Hi"}, {"role": "assistant", "text": "Hello"}],
    }
    status, body = await _call(control, "POST", "/session", json=request, headers=control.headers())
    assert status == 200, body
    claims = api.TokenVerifier(CREDENTIALS.api_key, CREDENTIALS.api_secret).verify(body["token"])
    assert claims.identity == "desktop-user"
    assert claims.video is not None
    assert claims.video.room == body["room"]
    assert claims.video.room_join
    assert body["livekit_url"] == "ws://127.0.0.1:7880"
    assert claims.room_config is not None
    (dispatch,) = claims.room_config.agents
    assert dispatch.agent_name == "private-assistant"
    parsed = session_request_from_metadata(dispatch.metadata)
    assert parsed.persona.name == "Ada"
    assert [m.text for m in parsed.history] == ["Hi", "Hello"]


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"version": 2}, "version 2 is not supported"),
        ({"version": 1, "persona": {"name": 3}}, "persona.name must be a string"),
        ([1, 2], "must be a JSON object"),
    ],
)
async def test_invalid_session_requests_are_422(control: Api, body: object, fragment: str) -> None:
    status, answer = await _call(control, "POST", "/session", json=body, headers=control.headers())
    assert status == 422
    assert fragment in answer["error"]["message"]


async def test_key_endpoints(control: Api) -> None:
    status, answer = await _call(
        control, "PUT", "/key", json={"name": "nebius", "key": "bad key"}, headers=control.headers()
    )
    assert status == 422
    assert "spaces" in answer["error"]["message"]
    good = "eyJhbGciOiJIUzI1NiJ9.payload-signature_0123456789"
    status, _ = await _call(
        control, "PUT", "/key", json={"name": "nebius", "key": good}, headers=control.headers()
    )
    assert status == 204
    assert control.backend.stored == {"nebius": good}
    status, answer = await _call(control, "GET", "/key/status", headers=control.headers())
    assert (status, answer["available"]) == (200, True)
    control.backend.keyring_works = False
    status, answer = await _call(
        control, "PUT", "/key", json={"key": good}, headers=control.headers()
    )
    assert (status, answer["error"]["code"]) == (503, "keyring_unavailable")


async def test_models_and_shutdown(control: Api) -> None:
    status, answer = await _call(control, "GET", "/models", headers=control.headers())
    assert answer["models"][0]["name"] == "tiny.en"
    status, _ = await _call(control, "POST", "/models/tiny.en/pull", headers=control.headers())
    assert status == 202
    status, answer = await _call(control, "POST", "/models/huge/pull", headers=control.headers())
    assert (status, answer["error"]["code"]) == (404, "unknown_model")
    status, _ = await _call(control, "POST", "/shutdown", headers=control.headers())
    assert status == 202
    assert control.backend.stopped


async def test_unknown_routes_and_methods(control: Api) -> None:
    status, answer = await _call(control, "GET", "/nope", headers=control.headers())
    assert status == 404
    assert "error" in answer
    status, answer = await _call(control, "DELETE", "/health", headers=control.headers())
    assert status == 405


async def test_fuzzed_requests_never_cause_a_500(control: Api) -> None:
    """Random methods, paths, headers and bodies, with and without the token: always 4xx/2xx."""
    rng = random.Random(20261126)
    paths = [
        "/health",
        "/session",
        "/models",
        "/models/x/pull",
        "/key",
        "/key/status",
        "/%00",
        "/" + "a" * 300,
    ]
    alphabet = [
        b"{",
        b"}",
        b'"',
        b"\x00",
        b"\xff",
        b"version",
        b":",
        b"1",
        b"[",
        b"]",
        b"persona",
        b"history",
        b"null",
    ]
    for _ in range(150):
        body = b"".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))
        headers = control.headers(
            **{
                "Content-Type": rng.choice(
                    ["application/json", "text/plain", "application/json; charset=latin-1", ""]
                )
            }
        )
        if rng.random() < 0.2:
            headers["Authorization"] = rng.choice(["", "Bearer", "Bearer " + "x" * 500])
        method = rng.choice(["GET", "POST", "PUT", "PATCH", "DELETE"])
        path = rng.choice(paths)
        if path == "/shutdown":
            continue
        async with control.session.request(
            method, control.url + path, data=body, headers=headers
        ) as response:
            assert response.status < 500, (
                method,
                path,
                body,
                response.status,
                await response.text(),
            )
            assert (
                response.headers.get("Content-Type", "").startswith("application/json")
                or response.status == 204
            )


def _raw(api_: Api, method: str, path: str, headers: dict[str, bytes], body: bytes = b"") -> bytes:
    lines = [f"{method} {path} HTTP/1.1".encode(), f"Host: 127.0.0.1:{api_.port}".encode()]
    lines += [name.encode() + b": " + value for name, value in headers.items()]
    lines.append(b"Connection: close")
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


@pytest.mark.parametrize(
    ("case", "headers", "body", "status", "code"),
    [
        (
            "undecodable bytes in Authorization",
            {"Authorization": b"Bearer \xff\xfe"},
            b"",
            401,
            "unauthorized",
        ),
        ("undecodable bytes alone", {"Authorization": b"\xff\xfe"}, b"", 401, "unauthorized"),
        ("a 20,000-deep array", {}, b"[" * 20_000 + b"]" * 20_000, 400, "bad_json"),
        ("a 5,000-digit integer", {}, b'{"version": ' + b"9" * 5_000 + b"}", 400, "bad_json"),
        ("NaN", {}, b'{"version": NaN}', 400, "bad_json"),
        ("a JSON string", {}, b'"{\\"version\\": 1}"', 422, "invalid_session_request"),
        ("version true", {}, b'{"version": true}', 422, "invalid_session_request"),
    ],
)
async def test_malformed_requests_are_4xx_never_500(
    control: Api, case: str, headers: dict[str, bytes], body: bytes, status: int, code: str
) -> None:
    """Issue 15.3: these were HTTP 500 (the first before authentication): an undecodable
    Authorization header broke the token comparison, and json.loads raised RecursionError and
    ValueError past the handler's error mapping."""
    sent = {"Authorization": f"Bearer {control.token}".encode(), **headers}
    if body:
        sent |= {"Content-Type": b"application/json", "Content-Length": str(len(body)).encode()}
    got, answer = await raw_exchange(control.port, _raw(control, "POST", "/session", sent, body))
    assert got == status, (case, answer[:300])
    assert json.loads(answer)["error"]["code"] == code


async def test_a_chunked_body_must_be_json_too(control: Api) -> None:
    """Issue 15.3: a chunked text/plain body has no Content-Length and was accepted (200)."""
    chunk = b'{"version": 1}'
    body = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n0\r\n\r\n"
    headers = {
        "Authorization": f"Bearer {control.token}".encode(),
        "Content-Type": b"text/plain",
        "Transfer-Encoding": b"chunked",
    }
    got, answer = await raw_exchange(control.port, _raw(control, "POST", "/session", headers, body))
    assert (got, json.loads(answer)["error"]["code"]) == (415, "not_json")
    headers["Content-Type"] = b"application/json"
    got, answer = await raw_exchange(control.port, _raw(control, "POST", "/session", headers, body))
    assert got == 200, answer
