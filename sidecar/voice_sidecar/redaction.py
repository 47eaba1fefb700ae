"""The one place secrets are scrubbed from text: log records, errors, events."""

from __future__ import annotations

import logging
import re

MASK = "***"
_MIN_SECRET_CHARS = 6
_PATTERNS = (
    re.compile(r"(?i)(bearer\s+)[^\s\"',;]+"),
    re.compile(
        r"(?i)((?:api[_-]?key|api[_-]?secret|secret|token|password)[\"']?\s*[:=]\s*[\"']?)[^\s\"',;&]+"
    ),
)


def host_label(url: str) -> str:
    """Host and port of a URL, for messages: its user-info, path or query could hold a token."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if not parts.hostname:
        return "(invalid URL)"
    return f"{parts.hostname}:{parts.port}" if parts.port else parts.hostname


class Redactor:
    """Masks known secret values and anything shaped like a credential."""

    def __init__(self) -> None:
        self._secrets: frozenset[str] = frozenset()

    def add(self, secret: str | None) -> None:
        # a new set rather than a change to it: other threads may be iterating the old one
        if secret and len(secret) >= _MIN_SECRET_CHARS:
            self._secrets = self._secrets | {secret}

    def redact_known(self, text: str) -> str:
        """Mask only the known secret values (for messages that carry a token on purpose)."""
        # longest first, so a secret that contains another is masked whole
        for secret in sorted(self._secrets, key=len, reverse=True):
            text = text.replace(secret, MASK)
        return text

    def redact(self, text: str) -> str:
        text = self.redact_known(text)
        for pattern in _PATTERNS:
            text = pattern.sub(lambda m: m.group(1) + MASK, text)
        return text


class RedactingFilter(logging.Filter):
    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self._redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self._redactor.redact(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self._redactor.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self._redactor.redact(record.stack_info)
        return True


def install(redactor: Redactor, logger: logging.Logger | None = None) -> None:
    """Attach the filter to every handler of ``logger`` (root by default): handler filters see
    records from all loggers, logger filters only their own."""
    target = logger or logging.getLogger()
    for handler in target.handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter(redactor))
