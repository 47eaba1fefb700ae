"""What the control API needs from the running sidecar (a protocol, so tests can supply one)."""

from __future__ import annotations

from typing import Any, Protocol

from voice_sidecar.persona import SessionRequest


class ControlBackend(Protocol):
    def health(self) -> dict[str, Any]:
        """Answers at once (no keyring call): it is polled while the keyring may hang."""

    def create_session(self, request: SessionRequest) -> dict[str, Any]: ...

    def list_models(self) -> list[dict[str, Any]]: ...

    def pull_model(self, name: str) -> None:
        """Start a download in the background; raise KeyError for an unknown model."""

    def key_status(self) -> dict[str, Any]:
        """Answers at once, from the last known state (``key_status.KeyStatusCache``)."""

    async def store_key(self, name: str, key: str) -> None:
        """Raise UserFacingError (shape, keyring) with a message for the user. The keyring
        is written off the event loop: other requests are served meanwhile."""

    def shutdown(self) -> None: ...
