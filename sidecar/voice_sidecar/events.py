"""JSON-lines events on stdout for the desktop app (schema: docs/sidecar-protocol.md)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any, TextIO

from .redaction import Redactor

PROTOCOL_VERSION = 1


class EventWriter:
    """Thread-safe; one line per event, flushed at once. Known secrets are masked."""

    def __init__(
        self, stream: TextIO, redactor: Redactor, *, clock: Callable[[], float] = time.time
    ) -> None:
        self._stream = stream
        self._redactor = redactor
        self._clock = clock
        self._lock = threading.Lock()

    def emit(self, event: str, **fields: Any) -> None:
        payload = {"v": PROTOCOL_VERSION, "event": event, "time": round(self._clock(), 3), **fields}
        with self._lock:
            text = self.format(payload)
            if text is None:
                return
            line = self._redactor.redact_known(text)
            try:
                self._stream.write(line + "\n")
                self._stream.flush()
            except (OSError, ValueError):
                # the app closed our stdout (or the terminal is gone: EIO): events have nowhere
                # to go; stopping is handled apart
                pass

    def format(self, payload: dict[str, Any]) -> str | None:
        """The text of one event's line (JSON); None writes nothing. Called under the lock.

        ``event_render.PlainEventWriter`` renders events for people instead."""
        return json.dumps(payload, ensure_ascii=False)

    def error(self, code: str, message: str, *, fatal: bool, **details: Any) -> None:
        self.emit("error", code=code, message=message, fatal=fatal, **details)
