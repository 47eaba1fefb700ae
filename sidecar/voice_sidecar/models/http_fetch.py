"""Fetch one file over HTTP into a model directory, verified, resumable, never half-installed.

The bytes go to ``NAME.part`` beside the final file. An interrupted transfer is
resumed with an HTTP ``Range`` request; the file is hashed while it streams;
only a file whose hash matches is moved into place with ``os.replace``. All
retries, back-offs and timeouts are in ``FetchOptions``.
"""

from __future__ import annotations

import errno
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import httpx2 as httpx

from voice_sidecar import __version__
from voice_sidecar.errors import DiskFullError, ModelDownloadError, ModelIntegrityError
from voice_sidecar.redaction import host_label as host_label

from .hashing import ExpectedDigest, digest_file, digest_from_etag, sha256_file
from .progress import ProgressTracker

PART_SUFFIX = ".part"
_NO_SPACE = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}


@dataclass(frozen=True)
class FetchOptions:
    """Everything about how files are fetched; tests shrink the numbers."""

    mirror_url: str = "https://huggingface.co"
    connect_timeout_s: float = 15.0
    read_timeout_s: float = 60.0
    attempts: int = 6
    """Transfers per file before giving up; each one resumes where the last stopped."""
    backoff_s: float = 1.0
    max_backoff_s: float = 30.0
    chunk_bytes: int = 1024 * 1024
    trust_env: bool = True
    """Honour HTTP(S)_PROXY/ALL_PROXY/NO_PROXY and the OS proxy settings."""


def file_url(base: str, repo: str, revision: str, path: str) -> str:
    """``{base}/{repo}/resolve/{revision}/{path}``, the Hugging Face layout."""
    return f"{base.rstrip('/')}/{repo}/resolve/{quote(revision, safe='')}/{quote(path)}"


@dataclass(frozen=True)
class RemoteFile:
    size: int | None
    digest: ExpectedDigest | None
    commit: str | None


@dataclass(frozen=True)
class FetchedFile:
    size: int
    sha256: str
    verified_by: str
    """``sha256`` or ``git-sha1``: the kind of hash the file was checked against."""


class _RetryableError(Exception):
    """A transfer failed in a way that another attempt (resuming) may fix."""


def _header_source(response: httpx.Response) -> httpx.Response:
    """Hugging Face puts the file's hash and size on the first (redirect) response."""
    return response.history[0] if response.history else response


def remote_file_from(response: httpx.Response) -> RemoteFile:
    first = _header_source(response)
    etag = first.headers.get("x-linked-etag") or first.headers.get("etag")
    if etag is None and first is not response:
        etag = response.headers.get("etag")
    size_text = first.headers.get("x-linked-size")
    if size_text is None and response.status_code == 200:
        size_text = response.headers.get("content-length")
    if size_text is None and response.status_code == 206:
        size_text = response.headers.get("content-range", "").rpartition("/")[2] or None
    size = int(size_text) if size_text and size_text.isdigit() else None
    return RemoteFile(
        size=size, digest=digest_from_etag(etag), commit=first.headers.get("x-repo-commit")
    )


class Fetcher:
    """An HTTP client for model files; ``close()`` it (or use ``with``)."""

    def __init__(
        self,
        options: FetchOptions,
        *,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.options = options
        self._sleep = sleep
        self._client = httpx.Client(
            timeout=httpx.Timeout(
                options.read_timeout_s, connect=options.connect_timeout_s, pool=None
            ),
            follow_redirects=True,
            trust_env=options.trust_env,
            headers={"User-Agent": f"voice-sidecar/{__version__}", "Accept-Encoding": "identity"},
            transport=transport,
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _backoff(self, attempt: int) -> float:
        return float(min(self.options.max_backoff_s, self.options.backoff_s * 2 ** (attempt - 1)))

    def _check_status(self, response: httpx.Response, what: str) -> None:
        status = response.status_code
        if status in (200, 206):
            return
        where = host_label(str(response.request.url))
        if status == 429 or status >= 500:
            raise _RetryableError(f"{where} answered HTTP {status}")
        hint = {
            401: "the server wants credentials: is the mirror URL right?",
            403: "the server refused access: is the mirror URL right?",
            404: "not found: check the mirror URL and the catalog's repository and revision",
        }.get(status, "unexpected answer")
        raise ModelDownloadError(f"cannot fetch {what} from {where}: HTTP {status} ({hint})")

    def head(self, url: str, *, what: str) -> RemoteFile:
        """Size and published hash of a remote file, without its body."""
        attempt = 0
        while True:
            attempt += 1
            try:
                response = self._client.head(url)
                self._check_status(response, what)
                return remote_file_from(response)
            except (_RetryableError, httpx.TransportError) as exc:
                if attempt >= self.options.attempts:
                    raise self._gave_up(url, what, exc) from None
                self._sleep(self._backoff(attempt))

    def _gave_up(self, url: str, what: str, exc: BaseException) -> ModelDownloadError:
        reason = str(exc) or type(exc).__name__
        return ModelDownloadError(
            f"cannot fetch {what} from {host_label(url)} after {self.options.attempts} "
            f"attempts ({reason.splitlines()[0][:160]}); check the network, proxy and mirror "
            "settings, then run the same command again: it resumes where it stopped"
        )

    def download(
        self,
        url: str,
        dest: Path,
        *,
        what: str,
        expected: ExpectedDigest | None,
        size: int | None,
        tracker: ProgressTracker,
        discard: Callable[[Path, str], None] | None = None,
    ) -> FetchedFile:
        """Fetch ``url`` to ``dest`` (atomically). ``discard`` receives a copy that failed
        verification (to quarantine it); without it the copy is deleted."""
        part = dest.with_name(dest.name + PART_SUFFIX)
        attempt = 0
        bad_copies = 0
        while True:
            present = part.stat().st_size if part.exists() else 0
            if size is not None and present > size:
                part.unlink()
                present = 0
            tracker.start_file(dest.name, total=size, present=present)
            try:
                remote = self._transfer(url, part, present, expected, size, what, tracker)
            except _RetryableError as exc:
                grown = part.exists() and part.stat().st_size > present
                # a transfer that got further does not count against the attempts
                attempt = 1 if grown else attempt + 1
                if attempt >= self.options.attempts:
                    raise self._gave_up(url, what, exc) from None
                tracker.retry(f"{dest.name}: {exc}")
                self._sleep(self._backoff(attempt))
                continue
            except OSError as exc:
                part.unlink(missing_ok=True)
                if exc.errno in _NO_SPACE:
                    raise DiskFullError(
                        f"the disk filled up while fetching {what} into {dest.parent}; "
                        "nothing partial was kept: free some space and try again"
                    ) from None
                raise ModelDownloadError(f"cannot write {part}: {exc.strerror or exc}") from None
            want = expected or remote.digest
            if want is None:
                part.unlink(missing_ok=True)
                raise ModelIntegrityError(
                    f"cannot verify {what}: the catalog has no hash for it and "
                    f"{host_label(url)} published none; refusing to install unverified files "
                    "(a maintainer can add the hash with `voice-sidecar models hash`)"
                )
            sha256 = sha256_file(part)
            actual = sha256 if want.kind == "sha256" else digest_file(part, want.kind)
            if actual != want.value:
                bad_copies += 1
                reason = f"{dest.name} did not match its {want.kind} ({want.source})"
                if discard is not None:
                    discard(part, reason)
                part.unlink(missing_ok=True)
                if bad_copies >= 2:
                    raise ModelIntegrityError(
                        f"{what} from {host_label(url)} failed verification twice "
                        f"({want.kind} {actual[:12]}... instead of {want.value[:12]}...); "
                        "nothing was installed: the mirror may serve a different revision"
                    )
                tracker.restart_file(f"{reason}; fetching it again")
                continue
            final_size = part.stat().st_size
            part.replace(dest)  # atomic: os.replace
            tracker.file_done()
            return FetchedFile(size=final_size, sha256=sha256, verified_by=want.kind)

    def _transfer(
        self,
        url: str,
        part: Path,
        present: int,
        expected: ExpectedDigest | None,
        size: int | None,
        what: str,
        tracker: ProgressTracker,
    ) -> RemoteFile:
        headers = {"Range": f"bytes={present}-"} if present else {}
        try:
            with self._client.stream("GET", url, headers=headers) as response:
                if response.status_code == 416 and present:
                    if present == size:
                        return remote_file_from(response)
                    part.unlink(missing_ok=True)
                    raise _RetryableError("the partial copy is longer than the file")
                self._check_status(response, what)
                remote = remote_file_from(response)
                server = remote.digest
                if (
                    expected
                    and server
                    and server.kind == expected.kind
                    and server.value != expected.value
                ):
                    raise ModelIntegrityError(
                        f"{host_label(url)} publishes a different {what} than the catalog "
                        f"pins ({server.value[:12]}... instead of {expected.value[:12]}...); "
                        "refusing it: the repository may have moved on"
                    )
                if response.status_code == 206:
                    start = response.headers.get("content-range", "").removeprefix("bytes ")
                    if not start.startswith(f"{present}-"):
                        part.unlink(missing_ok=True)
                        raise _RetryableError("the server resumed at the wrong offset")
                    mode = "ab"
                else:
                    if present:
                        tracker.start_file(part.name.removesuffix(PART_SUFFIX), total=size)
                    mode = "wb"
                with part.open(mode) as out:
                    for block in response.iter_raw(self.options.chunk_bytes):
                        out.write(block)
                        tracker.advance(len(block))
                    out.flush()
                    os.fsync(out.fileno())
        except httpx.TransportError as exc:
            text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise _RetryableError(text) from None
        written = part.stat().st_size
        total = size if size is not None else remote.size
        if total is not None and written < total:
            raise _RetryableError(f"the connection closed after {written} of {total} bytes")
        return remote
