"""The real control API server in a process of its own, with few descriptors: prints
``{"port": ..., "token": ...}`` and serves until stdin closes."""

from __future__ import annotations

import asyncio
import json
import resource
import sys
from typing import Any

from voice_sidecar.control_api.app import build_app, new_token
from voice_sidecar.control_api.server import ControlServer
from voice_sidecar.persona import SessionRequest


class QuietBackend:
    def health(self) -> dict[str, Any]:
        return {"status": "ready", "services": {}, "llm_key": "available"}

    def create_session(self, request: SessionRequest) -> dict[str, Any]:
        return {"livekit_url": "ws://127.0.0.1:7880", "token": "t", "room": "r", "identity": "i"}

    def list_models(self) -> list[dict[str, Any]]:
        return []

    def pull_model(self, name: str) -> None:
        raise KeyError(name)

    def key_status(self) -> dict[str, Any]:
        return {"available": True, "state": "available", "source": "keyring"}

    async def store_key(self, name: str, key: str) -> None:
        return None

    def shutdown(self) -> None:
        return None


async def serve(descriptors: int) -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (descriptors, descriptors))
    token = new_token()
    port_box = [0]
    server = ControlServer(build_app(QuietBackend(), token=token, port_ref=lambda: port_box[0]))
    port_box[0] = await server.start()
    print(json.dumps({"port": port_box[0], "token": token}), flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    await server.close()


if __name__ == "__main__":
    asyncio.run(serve(int(sys.argv[1])))
