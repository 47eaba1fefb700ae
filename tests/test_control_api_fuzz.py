"""Schema-driven fuzz of the control API (issue 15.3): schemathesis generates requests from
docs/control-api.openapi.json, valid and invalid, and sends them over HTTP to the real server
(``ControlServer``, ``build_app`` and ``StackBackend`` with a real supervisor, keyring, model
catalog and LiveKit token minting). No response may be a 500, and each must match what the
document says. Bounded in time: a fixed number of examples per operation."""

from __future__ import annotations

import asyncio
import io
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hypothesis
import pytest
import schemathesis

from voice_sidecar.commands.context import CommandContext
from voice_sidecar.control_api.app import build_app, new_token
from voice_sidecar.control_api.key_status import KeyStatusCache
from voice_sidecar.control_api.server import ControlServer
from voice_sidecar.events import EventWriter
from voice_sidecar.model_service import ModelService
from voice_sidecar.paths import ModelPaths
from voice_sidecar.redaction import Redactor
from voice_sidecar.secret_store import SecretStore
from voice_sidecar.settings_loader import load_settings
from voice_sidecar.stack import StackBackend, run_credentials
from voice_sidecar.supervisor import ServiceSpec, Supervisor

DOC = Path(__file__).resolve().parents[1] / "docs" / "control-api.openapi.json"
EXAMPLES_PER_OPERATION = 100

pytestmark = pytest.mark.timeout(240)


@dataclass
class Running:
    url: str
    token: str
    stops: list[str]


@pytest.fixture(scope="module")
def running_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    root = tmp_path_factory.mktemp("fuzz")
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="control-api", daemon=True)
    thread.start()
    environ = {"PYTHON_KEYRING_BACKEND": "keyrings.alt.file.PlaintextKeyring"}
    loaded = load_settings(
        config_file=root / "absent.toml",
        environ=environ,
        overrides={"models.offline": "true", "models.dir": str(root / "models")},
    )
    context = CommandContext(
        loaded=loaded, environ=environ, store=SecretStore(environ=environ), redactor=Redactor()
    )
    stops: list[str] = []
    token = new_token()

    async def start() -> tuple[ControlServer, Supervisor]:
        supervisor = Supervisor(
            [
                ServiceSpec(
                    name="agent",
                    argv=[sys.executable, "-c", "import sys; sys.stdin.read()"],
                    env={},
                )
            ],
            on_event=lambda event: None,
        )
        await supervisor.start()
        backend = StackBackend(
            context=context,
            supervisor=supervisor,
            credentials=run_credentials(),
            livekit_url="ws://127.0.0.1:7880",
            request_stop=stops.append,
            keys=KeyStatusCache(context.read_llm_key),
            models=ModelService.create(
                loaded.settings,
                ModelPaths(models_dir=root / "models", cache_dir=root / "cache"),
                EventWriter(io.StringIO(), context.redactor),
            ),
        )
        box = [0]
        server = ControlServer(build_app(backend, token=token, port_ref=lambda: box[0]))
        box[0] = await server.start()
        return server, supervisor

    server, supervisor = asyncio.run_coroutine_threadsafe(start(), loop).result(60)
    yield Running(f"http://127.0.0.1:{server.port}", token, stops)

    async def stop() -> None:
        await server.close()
        await supervisor.stop()

    asyncio.run_coroutine_threadsafe(stop(), loop).result(60)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)


def _operations() -> list[Any]:
    schema = schemathesis.openapi.from_path(DOC)
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    assert len(operations) == 7, "docs/control-api.openapi.json lost an operation"
    return operations


@pytest.mark.parametrize("mode", list(schemathesis.GenerationMode), ids=str)
@pytest.mark.parametrize("operation", _operations(), ids=lambda op: op.label)
def test_no_generated_request_yields_a_500_or_an_undocumented_answer(
    running_api: Running, operation: Any, mode: schemathesis.GenerationMode
) -> None:
    """Valid requests must get a documented answer; invalid ones (wrong types, missing or
    extra fields, bad headers) a documented 4xx. Never a 500."""
    headers = {"Authorization": f"Bearer {running_api.token}"}

    @hypothesis.given(operation.as_strategy(generation_mode=mode))
    @hypothesis.settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(hypothesis.HealthCheck),
    )
    def run(case: Any) -> None:
        case.call_and_validate(base_url=running_api.url, headers=headers, timeout=10)

    run()


def test_the_document_names_every_route_of_the_server() -> None:
    import json

    from .children.control_api_server import QuietBackend

    app = build_app(QuietBackend(), token="t", port_ref=lambda: 0)
    served = {
        (route.method.lower(), route.resource.canonical)
        for route in app.router.routes()
        if route.method != "HEAD" and route.resource is not None
    }
    paths = json.loads(DOC.read_text(encoding="utf-8"))["paths"]
    documented = {(method, path) for path, item in paths.items() for method in item}
    assert served == documented
