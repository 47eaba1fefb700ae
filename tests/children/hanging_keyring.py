"""A keyring backend that behaves like a locked Secret Service: every call blocks.

Chosen with ``PYTHON_KEYRING_BACKEND=tests.children.hanging_keyring.HangingKeyring``."""

from __future__ import annotations

import time

from keyring.backend import KeyringBackend


class HangingKeyring(KeyringBackend):
    priority = 1

    def get_password(self, service: str, username: str) -> str | None:
        time.sleep(600)
        return None

    def set_password(self, service: str, username: str, password: str) -> None:
        time.sleep(600)

    def delete_password(self, service: str, username: str) -> None:
        time.sleep(600)
