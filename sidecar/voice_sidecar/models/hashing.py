"""File digests, and what a server's ETag says about a file's content.

Hugging Face publishes, in ``X-Linked-Etag`` (or ``ETag``) of a ``resolve`` URL,
the SHA-256 of a file stored with Git LFS and the git blob SHA-1 of a file
stored in git itself; both identify the content exactly.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

CHUNK = 4 * 1024 * 1024
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_HEX40 = re.compile(r"^[0-9a-f]{40}$")

DigestKind = Literal["sha256", "git-sha1"]


@dataclass(frozen=True)
class ExpectedDigest:
    kind: DigestKind
    value: str
    source: str
    """Where the value came from: ``catalog`` or ``server``."""


def sha256_file(path: Path, *, chunk: int = CHUNK) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while block := stream.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def git_blob_sha1_file(path: Path, *, chunk: int = CHUNK) -> str:
    """The id git gives a file's content: SHA-1 of ``blob <size>\\0`` + content."""
    digest = hashlib.sha1(usedforsecurity=False)
    digest.update(f"blob {path.stat().st_size}\0".encode())
    with path.open("rb") as stream:
        while block := stream.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def digest_file(path: Path, kind: DigestKind) -> str:
    return sha256_file(path) if kind == "sha256" else git_blob_sha1_file(path)


def digest_from_etag(etag: str | None) -> ExpectedDigest | None:
    """The content hash an ETag carries, or None when it carries none we know."""
    if not etag:
        return None
    value = etag.strip()
    if value.startswith("W/"):
        value = value[2:]
    value = value.strip('"').lower()
    if _HEX64.match(value):
        return ExpectedDigest("sha256", value, "server")
    if _HEX40.match(value):
        return ExpectedDigest("git-sha1", value, "server")
    return None
