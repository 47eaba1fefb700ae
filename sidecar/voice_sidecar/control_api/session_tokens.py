"""LiveKit access tokens for the desktop user, with the agent dispatch in them."""

from __future__ import annotations

import datetime
import json
import secrets
from dataclasses import asdict

from livekit import api
from livekit.protocol.agent_dispatch import RoomAgentDispatch
from livekit.protocol.room import RoomConfiguration

from voice_sidecar.persona import SCHEMA_VERSION, SessionRequest
from voice_sidecar.secret_store import LiveKitCredentials

DESKTOP_IDENTITY = "desktop-user"
TOKEN_TTL = datetime.timedelta(hours=6)


def dispatch_metadata(request: SessionRequest) -> str:
    """The versioned JSON the agent reads back with ``session_request_from_metadata``."""
    return json.dumps(
        {
            "version": SCHEMA_VERSION,
            "persona": {k: v for k, v in asdict(request.persona).items() if v is not None},
            "history": [{"role": m.role, "text": m.text} for m in request.history],
        },
        # UTF-8 rather than \u escapes: the metadata stays as small as the request was, well
        # inside persona.MAX_REQUEST_BYTES
        ensure_ascii=False,
    )


def mint_session(
    request: SessionRequest,
    *,
    credentials: LiveKitCredentials,
    livekit_url: str,
    agent_name: str,
) -> dict[str, str]:
    room = f"pa-{secrets.token_hex(6)}"
    token = (
        api.AccessToken(credentials.api_key, credentials.api_secret)
        .with_identity(DESKTOP_IDENTITY)
        .with_name("Desktop user")
        .with_ttl(TOKEN_TTL)
        .with_grants(
            api.VideoGrants(
                room_join=True,
                room=room,
                can_publish=True,
                can_subscribe=True,
                can_publish_data=True,
            )
        )
        .with_room_config(
            RoomConfiguration(
                agents=[
                    RoomAgentDispatch(agent_name=agent_name, metadata=dispatch_metadata(request))
                ]
            )
        )
        .to_jwt()
    )
    return {"livekit_url": livekit_url, "token": token, "room": room, "identity": DESKTOP_IDENTITY}
