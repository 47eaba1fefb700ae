"""Secrets in the OS keyring: Windows Credential Manager, macOS Keychain, Secret Service.

Every call is bounded in time (a locked Secret Service can block forever), a
missing backend is an error that says how to fix it, and a plaintext file is
never used unless the user chose that backend explicitly.
"""

from __future__ import annotations

import os
import queue
import re
import secrets
import string
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar, cast

from .errors import UserFacingError

SERVICE = "private-assistant"
KEYRING_TIMEOUT_S = 5.0
# Windows Credential Manager holds at most 2,560 bytes per credential
# (CRED_MAX_CREDENTIAL_BLOB_SIZE) and keyring stores text there as UTF-16,
# so 1,280 characters is the portable limit.
MAX_SECRET_CHARS = 1280

KeyName = Literal["nebius", "llm"]
_ACCOUNTS: dict[str, str] = {
    "nebius": "nebius-api-key",
    "llm": "llm-api-key",
    "livekit-key": "livekit-api-key",
    "livekit-secret": "livekit-api-secret",
}
ENV_FOR_KEY: dict[str, str] = {"nebius": "NEBIUS_API_KEY", "llm": "VOICE_SIDECAR_LLM_API_KEY"}

_T = TypeVar("_T")

# any variable named like a credential; children get none of them unless given on purpose
_SECRET_NAME = re.compile(r"(?i)(API_?KEY|SECRET|TOKEN|PASSWORD|PASSWD|CREDENTIAL|LIVEKIT_KEYS)")


def without_secrets(environ: Mapping[str, str]) -> dict[str, str]:
    """``environ`` less every variable that holds (or is named like) a secret: the base of a
    child's environment, to which each child's own secrets are added (least privilege)."""
    return {
        name: value
        for name, value in environ.items()
        if name not in ENV_FOR_KEY.values() and not _SECRET_NAME.search(name)
    }


class KeyringError(UserFacingError):
    """The OS keyring cannot be used."""


class KeyringUnavailableError(KeyringError):
    pass


class KeyringTimeoutError(KeyringError):
    pass


class SecretValueError(UserFacingError):
    """A secret's value is not acceptable."""


def _no_backend_reason() -> str:
    """Why no keyring works, in this system's words (short: callers add what to do)."""
    if sys.platform.startswith("linux"):
        return "no Secret Service (GNOME Keyring or KWallet) is running and unlocked"
    if sys.platform == "darwin":
        return "the macOS Keychain cannot be reached"
    return "the Windows Credential Manager cannot be reached"


def missing_key_advice(name: KeyName, problem: str | None) -> str:
    """The one way to give a missing key on this system: the keyring when it works, else the
    environment variable (never 'key set', which cannot work without a keyring)."""
    variable = ENV_FOR_KEY[name]
    if problem:
        return f"the OS keyring cannot be used ({problem}); set {variable} in the environment"
    suffix = "" if name == "nebius" else f" {name}"
    return f"store it with 'voice-sidecar key set{suffix}' (or set {variable})"


def _plaintext_backend(backend: object) -> bool:
    module = type(backend).__module__
    return module.startswith("keyrings.alt") or "plaintext" in type(backend).__name__.lower()


class _StillBusyError(Exception):
    def __init__(self, seconds: float) -> None:
        super().__init__(seconds)
        self.seconds = seconds


class _KeyringWorker:
    """One daemon thread that makes every keyring call of a store, one at a time.

    A locked Secret Service can block a call forever. The caller waits at most its
    timeout; the call itself cannot be interrupted and keeps the worker. While the
    worker has been stuck longer than a caller's timeout, further calls fail at once
    instead of queueing: however many callers ask, at most one thread is ever stuck.
    Daemon: a stuck call never holds up the program's exit.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: queue.SimpleQueue[_Job[Any]] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._busy_since: float | None = None

    def run(self, fn: Callable[[], _T], *, timeout_s: float) -> _T:
        job = _Job(fn)
        with self._lock:
            if self._busy_since is not None:
                stuck = time.monotonic() - self._busy_since
                if stuck >= timeout_s:
                    raise _StillBusyError(stuck)
            if self._thread is None:
                self._thread = threading.Thread(target=self._serve, name="keyring", daemon=True)
                self._thread.start()
            self._jobs.put(job)
        if not job.done.wait(timeout_s):
            raise TimeoutError
        if job.error is not None:
            raise job.error
        return cast(_T, job.result)

    def _serve(self) -> None:
        while True:
            job = self._jobs.get()
            with self._lock:
                self._busy_since = time.monotonic()
            try:
                job.result = job.fn()
            except BaseException as exc:  # noqa: BLE001 - handed back to the caller's thread
                job.error = exc
            finally:
                with self._lock:
                    self._busy_since = None
                job.done.set()


class _Job(Generic[_T]):
    __slots__ = ("done", "error", "fn", "result")

    def __init__(self, fn: Callable[[], _T]) -> None:
        self.fn = fn
        self.done = threading.Event()
        self.result: _T | None = None
        self.error: BaseException | None = None


class SecretStore:
    """Bounded, checked access to one service's entries in the OS keyring."""

    def __init__(
        self,
        *,
        timeout_s: float = KEYRING_TIMEOUT_S,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self._timeout_s = timeout_s
        source = os.environ if environ is None else environ
        self._explicit_backend = bool(source.get("PYTHON_KEYRING_BACKEND"))
        self._backend: object | None = None
        self._worker = _KeyringWorker()

    def _call(self, what: str, fn: Callable[[], _T]) -> _T:
        try:
            return self._worker.run(fn, timeout_s=self._timeout_s)
        except _StillBusyError as busy:
            raise KeyringTimeoutError(
                f"the OS keyring did not answer an earlier request for {busy.seconds:.0f}s "
                f"(is it locked?), so it was not asked to {what}; unlock it and try again, "
                "or set the key in the environment"
            ) from None
        except TimeoutError:
            raise KeyringTimeoutError(
                f"the OS keyring did not answer within {self._timeout_s:g}s while trying to {what} "
                "(is it locked?); unlock it and try again, or set the key in the environment"
            ) from None
        except KeyringError:
            raise
        except Exception as exc:
            from keyring.errors import KeyringError as BackendError
            from keyring.errors import NoKeyringError

            if isinstance(exc, NoKeyringError):
                raise KeyringUnavailableError(
                    f"no OS keyring is available: {_no_backend_reason()}"
                ) from None
            if isinstance(exc, BackendError):
                raise KeyringError(
                    f"the OS keyring refused to {what} ({type(exc).__name__}); "
                    "unlock it or set the key in the environment"
                ) from None
            raise

    def backend_name(self) -> str:
        backend = self._call("find a backend", self._checked_backend)
        return f"{type(backend).__module__}.{type(backend).__name__}"

    def _checked_backend(self) -> object:
        if self._backend is not None:
            return self._backend
        import keyring
        from keyring.backends import fail

        backend = keyring.get_keyring()
        if isinstance(backend, fail.Keyring):
            raise KeyringUnavailableError(f"no OS keyring is available: {_no_backend_reason()}")
        if _plaintext_backend(backend) and not self._explicit_backend:
            raise KeyringUnavailableError(
                "the only keyring found stores secrets in a plaintext file, which is refused "
                "(choose one with PYTHON_KEYRING_BACKEND)"
            )
        self._backend = backend
        return backend

    def get(self, name: str) -> str | None:
        account = _ACCOUNTS[name]

        def read() -> str | None:
            backend = self._checked_backend()
            value = backend.get_password(SERVICE, account)  # type: ignore[attr-defined]
            return value if isinstance(value, str) else None

        return self._call("read a key", read)

    def set(self, name: str, value: str) -> None:
        check_secret_length(value)
        account = _ACCOUNTS[name]

        def write() -> None:
            backend = self._checked_backend()
            backend.set_password(SERVICE, account, value)  # type: ignore[attr-defined]

        self._call("store a key", write)

    def delete(self, name: str) -> bool:
        """True if something was deleted."""
        account = _ACCOUNTS[name]

        def remove() -> bool:
            from keyring.errors import PasswordDeleteError

            backend = self._checked_backend()
            try:
                backend.delete_password(SERVICE, account)  # type: ignore[attr-defined]
            except PasswordDeleteError:
                return False
            return True

        return self._call("delete a key", remove)


def check_secret_length(value: str) -> None:
    if len(value) > MAX_SECRET_CHARS:
        raise SecretValueError(
            f"the value is {len(value)} characters; the OS keyring (Windows Credential Manager) "
            f"holds at most {MAX_SECRET_CHARS}. Check that you pasted only the key"
        )


_KEY_CHARACTERS = set(string.ascii_letters + string.digits + "-_.~+/=:")


def validate_api_key(value: str) -> str:
    """Shape check for a pasted API key: one token of URL-safe characters, sensible length."""
    key = value.strip()
    if not key:
        raise SecretValueError("the API key is empty")
    check_secret_length(key)
    if any(c.isspace() for c in key):
        raise SecretValueError("the API key contains spaces or line breaks; paste only the key")
    if len(key) < 20:
        raise SecretValueError(f"the API key is only {len(key)} characters; paste the whole key")
    bad = sorted({c for c in key if c not in _KEY_CHARACTERS})
    if bad:
        raise SecretValueError(
            f"the API key contains characters keys never have ({len(bad)} kind(s)); "
            "paste only the key"
        )
    return key


@dataclass(frozen=True)
class ResolvedKey:
    value: str | None
    source: str
    """'environment NEBIUS_API_KEY', 'keyring', or 'missing'."""
    problem: str | None = None
    """Why the keyring could not be read, when it could not."""


def resolve_api_key(name: KeyName, environ: Mapping[str, str], store: SecretStore) -> ResolvedKey:
    """The environment wins over the keyring (CI, Docker).

    A keyring problem is reported in ``problem``, not raised: a missing key is a state."""
    variable = ENV_FOR_KEY[name]
    if environ.get(variable):
        return ResolvedKey(environ[variable], f"environment {variable}")
    try:
        value = store.get(name)
    except KeyringError as exc:
        return ResolvedKey(None, "missing", problem=str(exc))
    return ResolvedKey(value, "keyring") if value else ResolvedKey(None, "missing")


@dataclass(frozen=True)
class LiveKitCredentials:
    api_key: str
    api_secret: str

    def __repr__(self) -> str:
        return f"LiveKitCredentials(api_key={self.api_key!r}, api_secret='***')"


def livekit_credentials(store: SecretStore) -> LiveKitCredentials:
    """This installation's LiveKit key pair, generated on first use and kept in the keyring."""
    key = store.get("livekit-key")
    secret = store.get("livekit-secret")
    if key and secret and len(secret) >= 32:
        return LiveKitCredentials(key, secret)
    credentials = LiveKitCredentials(
        api_key="API" + secrets.token_hex(6), api_secret=secrets.token_urlsafe(36)
    )
    store.set("livekit-key", credentials.api_key)
    store.set("livekit-secret", credentials.api_secret)
    return credentials
