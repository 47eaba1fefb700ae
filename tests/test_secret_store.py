"""The OS keyring through the real keyring API, confined to temporary directories."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import keyring
import pytest
from keyring.backend import KeyringBackend
from keyring.backends import fail
from keyrings.alt.file import PlaintextKeyring

from voice_sidecar.secret_store import (
    MAX_SECRET_CHARS,
    KeyringTimeoutError,
    KeyringUnavailableError,
    SecretStore,
    SecretValueError,
    livekit_credentials,
    resolve_api_key,
    validate_api_key,
)

EXPLICIT = {"PYTHON_KEYRING_BACKEND": "keyrings.alt.file.PlaintextKeyring"}
GOOD_KEY = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ0ZXN0In0.c2lnbmF0dXJl-abc_123"


class HangingKeyring(KeyringBackend):
    """Behaves like a locked Secret Service: every call blocks."""

    priority = 1

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()

    def get_password(self, service: str, username: str) -> str | None:
        self.release.wait(30)
        return None

    def set_password(self, service: str, username: str, password: str) -> None:
        self.release.wait(30)

    def delete_password(self, service: str, username: str) -> None:
        self.release.wait(30)


@pytest.fixture
def file_keyring(tmp_path: Path) -> Iterator[PlaintextKeyring]:
    backend = PlaintextKeyring()
    backend.file_path = str(tmp_path / "keyring.cfg")
    previous = keyring.get_keyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)


def test_round_trip(file_keyring: PlaintextKeyring) -> None:
    store = SecretStore(environ=EXPLICIT)
    assert store.get("nebius") is None
    store.set("nebius", GOOD_KEY)
    assert store.get("nebius") == GOOD_KEY
    assert Path(file_keyring.file_path).is_file()
    assert store.delete("nebius") is True
    assert store.delete("nebius") is False
    assert store.get("nebius") is None


def test_a_plaintext_backend_is_refused_unless_chosen(file_keyring: PlaintextKeyring) -> None:
    with pytest.raises(KeyringUnavailableError, match="plaintext file, which is refused"):
        SecretStore(environ={}).set("nebius", GOOD_KEY)
    assert not Path(file_keyring.file_path).exists()


def test_no_backend_is_a_clear_error() -> None:
    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    try:
        with pytest.raises(KeyringUnavailableError, match="no OS keyring is available") as caught:
            SecretStore(environ=EXPLICIT).get("nebius")
        assert "is running and unlocked" in str(caught.value) or "cannot be reached" in str(
            caught.value
        )
    finally:
        keyring.set_keyring(previous)


def test_a_hanging_backend_times_out() -> None:
    hanging = HangingKeyring()
    previous = keyring.get_keyring()
    keyring.set_keyring(hanging)
    try:
        store = SecretStore(environ=EXPLICIT, timeout_s=0.3)
        started = time.perf_counter()
        with pytest.raises(KeyringTimeoutError, match=r"did not answer within 0\.3s"):
            store.get("nebius")
        assert time.perf_counter() - started < 2
        resolved = resolve_api_key("nebius", {}, store)
        assert resolved.value is None
        assert resolved.problem is not None
        assert "did not answer" in resolved.problem
    finally:
        hanging.release.set()
        keyring.set_keyring(previous)


def test_a_hanging_backend_holds_one_thread_and_later_calls_fail_at_once() -> None:
    """Issue 15.2: every call on a locked keyring left one more thread stuck behind it, and
    each caller waited the whole timeout. Now one worker makes the calls: while it is stuck,
    further calls fail at once with the reason."""
    hanging = HangingKeyring()
    previous = keyring.get_keyring()
    keyring.set_keyring(hanging)
    before = set(threading.enumerate())
    try:
        store = SecretStore(environ=EXPLICIT, timeout_s=0.3)
        with pytest.raises(KeyringTimeoutError):
            store.get("nebius")
        time.sleep(0.05)
        started = time.perf_counter()
        for _ in range(20):
            with pytest.raises(KeyringTimeoutError, match="did not answer an earlier request"):
                store.get("livekit-key")
        assert time.perf_counter() - started < 0.5
        assert [t.name for t in set(threading.enumerate()) - before] == ["keyring"]
        hanging.release.set()  # the worker survives the stuck call and serves the next one
        for _ in range(50):
            try:
                assert store.get("nebius") is None
                break
            except KeyringTimeoutError:
                time.sleep(0.05)
        else:
            raise AssertionError("the keyring worker did not recover once the keyring answered")
    finally:
        hanging.release.set()
        keyring.set_keyring(previous)


def test_too_long_value_is_refused_before_writing(file_keyring: PlaintextKeyring) -> None:
    store = SecretStore(environ=EXPLICIT)
    with pytest.raises(SecretValueError, match=f"holds at most {MAX_SECRET_CHARS}"):
        store.set("nebius", "k" * (MAX_SECRET_CHARS + 1))
    assert not Path(file_keyring.file_path).exists()


def test_environment_wins_over_keyring(file_keyring: PlaintextKeyring) -> None:
    store = SecretStore(environ=EXPLICIT)
    store.set("nebius", GOOD_KEY)
    from_env = resolve_api_key("nebius", {"NEBIUS_API_KEY": "env-key-value-1234567890"}, store)
    assert (from_env.value, from_env.source) == (
        "env-key-value-1234567890",
        "environment NEBIUS_API_KEY",
    )
    stored = resolve_api_key("nebius", {}, store)
    assert (stored.value, stored.source) == (GOOD_KEY, "keyring")
    assert resolve_api_key("llm", {}, store).source == "missing"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "empty"),
        ("   \n", "empty"),
        ("short-key", "only 9 characters"),
        ("two words are not a key at all", "spaces or line breaks"),
        ('key-with-a-quote-"-inside-it-123', "characters keys never have"),
        ("x" * 2000, "holds at most 1280"),
    ],
)
def test_key_shape_is_checked(value: str, message: str) -> None:
    with pytest.raises(SecretValueError, match=message):
        validate_api_key(value)


def test_pasted_key_is_trimmed() -> None:
    assert validate_api_key(f"  {GOOD_KEY}\n") == GOOD_KEY


def test_livekit_credentials_are_generated_once(file_keyring: PlaintextKeyring) -> None:
    store = SecretStore(environ=EXPLICIT)
    first = livekit_credentials(store)
    assert len(first.api_secret) >= 32
    assert first.api_key.startswith("API")
    assert livekit_credentials(store) == first
    assert first.api_secret not in repr(first)
    other = SecretStore(environ=EXPLICIT)
    assert livekit_credentials(other) == first
