"""Whether the LLM key is there, known without asking the keyring on a request's path.

A locked Secret Service blocks a read for the keyring's whole timeout. ``GET /health`` and
``GET /key/status`` therefore answer from this cache at once; the keyring is read in the
background, by at most one reader at a time, when the cache is older than ``max_age_s``
(and at once after ``PUT /key``). Until the first read finishes the state is ``unknown``.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from voice_sidecar.log import logger
from voice_sidecar.secret_store import ResolvedKey

KeyAvailability = Literal["available", "missing", "unknown"]

MAX_AGE_S = 30.0


@dataclass(frozen=True)
class KeyState:
    state: KeyAvailability
    source: str
    """'keyring', 'environment NEBIUS_API_KEY', 'missing', 'not needed' or 'checking'."""
    problem: str | None = None
    """Why the keyring could not be read, when it could not."""
    value: str | None = field(default=None, repr=False)

    @staticmethod
    def from_resolved(resolved: ResolvedKey) -> KeyState:
        if resolved.value is not None or resolved.source == "not needed":
            return KeyState("available", resolved.source, resolved.problem, resolved.value)
        return KeyState("missing", resolved.source, resolved.problem)

    def as_status(self) -> dict[str, object]:
        """The body of ``GET /key/status``."""
        return {"available": self.state == "available", "state": self.state, "source": self.source}


UNKNOWN = KeyState("unknown", "checking")


class KeyStatusCache:
    """The last known key state; reads run on a daemon thread, one at a time.

    Every method is called on the event loop's thread and returns at once.
    ``on_change`` is called there too, whenever a read gives a different state.
    """

    def __init__(
        self,
        read: Callable[[], ResolvedKey],
        *,
        max_age_s: float = MAX_AGE_S,
        clock: Callable[[], float] = time.monotonic,
        on_change: Callable[[KeyState], None] | None = None,
    ) -> None:
        self._read = read
        self._max_age_s = max_age_s
        self._clock = clock
        self._on_change = on_change
        self._state = UNKNOWN
        self._read_at: float | None = None
        self._reading: asyncio.Future[KeyState] | None = None

    def current(self) -> KeyState:
        """The state now; starts a background read when it is stale."""
        stale = self._read_at is None or self._clock() - self._read_at >= self._max_age_s
        if stale:
            self.refresh()
        return self._state

    def refresh(self) -> asyncio.Future[KeyState]:
        """Start a read unless one is running; the future resolves with its state."""
        if self._reading is None or self._reading.done():
            self._reading = self._start_read()
        return self._reading

    async def known(self) -> KeyState:
        """The state once at least one read has finished."""
        if self._read_at is None:
            return await asyncio.shield(self.refresh())
        return self._state

    def _start_read(self) -> asyncio.Future[KeyState]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[KeyState] = loop.create_future()

        def settle(state: KeyState) -> None:
            previous, self._state, self._read_at = self._state, state, self._clock()
            if state != previous and self._on_change is not None:
                try:
                    self._on_change(state)
                except Exception:  # noqa: BLE001 - a reporting bug must not stop the cache
                    logger.exception("reporting the key state failed")
            if not future.done():
                future.set_result(state)

        def run() -> None:
            try:
                state = KeyState.from_resolved(self._read())
            except Exception as exc:  # noqa: BLE001 - a bug must not leave the state unknown
                logger.exception("reading the LLM key failed")
                state = KeyState(
                    "missing", "missing", f"reading the key failed ({type(exc).__name__})"
                )
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(settle, state)

        threading.Thread(target=run, name="key-status", daemon=True).start()
        return future
