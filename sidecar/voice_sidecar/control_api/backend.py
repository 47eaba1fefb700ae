"""What the control API needs from the running sidecar (a protocol, so tests can supply one)."""

from __future__ import annotations

from typing import Any, Protocol

from voice_sidecar.persona import SessionRequest


class ControlBackend(Protocol):
    def health(self) -> dict[str, Any]: ...

    def create_session(self, request: SessionRequest) -> dict[str, Any]: ...

    def list_models(self) -> list[dict[str, Any]]: ...

    def pull_model(self, name: str) -> None:
        """Start a download in the background; raise KeyError for an unknown model."""

    def key_status(self) -> dict[str, Any]: ...

    def store_key(self, name: str, key: str) -> None:
        """Raise UserFacingError (shape, keyring) with a message for the user."""

    def shutdown(self) -> None: ...
