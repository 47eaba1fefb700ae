"""Free disk space: a pure check, and the thin call that measures it."""

from __future__ import annotations

import shutil
from pathlib import Path

from voice_sidecar.errors import DiskFullError

SPACE_MARGIN_BYTES = 64 * 1024 * 1024
"""Left free beyond the download itself, for the filesystem and everything else."""


def megabytes(size: int) -> str:
    return f"{size / 1_000_000:.1f} MB"


def check_free_space(
    *, needed: int, free: int, directory: Path, what: str, margin: int = SPACE_MARGIN_BYTES
) -> None:
    """Raise DiskFullError unless ``needed`` bytes (plus a margin) fit in ``free``."""
    if needed + margin <= free:
        return
    raise DiskFullError(
        f"not enough free space for {what}: it needs {megabytes(needed)} "
        f"(plus {megabytes(margin)} to spare) in {directory}, only {megabytes(free)} is free; "
        "free some space or point the models directory elsewhere (--models-dir)"
    )


def free_bytes(directory: Path) -> int:
    """Free bytes on the filesystem that holds ``directory`` (or its nearest existing parent)."""
    probe = directory
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    return shutil.disk_usage(probe).free
