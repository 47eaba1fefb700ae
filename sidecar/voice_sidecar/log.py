"""The package's logger, and the one way a process writes its log file."""

import json
import logging
from logging.handlers import RotatingFileHandler
from pathlib import Path

logger = logging.getLogger("voice_sidecar")

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

SUPERVISED_VARIABLE = "VOICE_SIDECAR_SUPERVISED"
"""Set by ``up`` for its children: their output reaches the log file through ``up``, so they
do not write it themselves (each agent line was in the file three times)."""


def add_file_handler(path: Path, *, level: int, rotate: bool = False) -> logging.Handler:
    """Write the root logger to ``path``, once: a handler already writing there is reused
    (with ``logging.file`` set, the CLI and ``up`` each added one, and every line was written
    twice)."""
    target = str(path.resolve())
    root = logging.getLogger()
    for handler in root.handlers:
        if isinstance(handler, logging.FileHandler) and handler.baseFilename == target:
            handler.setLevel(min(handler.level or level, level))
            return handler
    path.parent.mkdir(parents=True, exist_ok=True)
    new: logging.FileHandler = (
        RotatingFileHandler(path, maxBytes=5 * 1024 * 1024, backupCount=3, encoding="utf-8")
        if rotate
        else logging.FileHandler(path, encoding="utf-8")
    )
    new.setFormatter(logging.Formatter(LOG_FORMAT))
    new.setLevel(level)
    root.addHandler(new)
    return new


class JsonFormatter(logging.Formatter):
    """One JSON object a line (``logging.format = json``): time, level, logger, message, and
    the exception when there is one. The message is what the redaction filter left of it."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)
