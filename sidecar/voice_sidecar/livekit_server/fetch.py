"""``voice-sidecar fetch-livekit``: download the pinned livekit-server for this platform.

The archive is verified before anything is unpacked: against the SHA-256 pinned
here when we have one, otherwise against the checksum file LiveKit publishes
with the release (and the log says which). The binary is unpacked to a
temporary file beside its final place and moved there with ``os.replace``; a
lock keeps two processes from fetching at once.
"""

from __future__ import annotations

import io
import os
import shutil
import stat
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from voice_sidecar.errors import ModelDownloadError, ModelIntegrityError
from voice_sidecar.log import logger
from voice_sidecar.models.hashing import ExpectedDigest, sha256_file
from voice_sidecar.models.http_fetch import Fetcher, FetchOptions
from voice_sidecar.models.locking import ModelLock
from voice_sidecar.models.progress import ProgressCallback, ProgressTracker
from voice_sidecar.redaction import host_label

from .platform_names import HostPlatform, host_platform
from .version import LIVEKIT_VERSION

RELEASE_BASE_URL = "https://github.com/livekit/livekit/releases/download"
# SHA-256 of each release archive, pinned by a maintainer with
# 'voice-sidecar fetch-livekit --print-checksum' on a machine with internet access.
# Not known on the machine this was written on (no internet): until pinned, the
# archive is checked against the checksum file published with the release.
PINNED_SHA256: dict[tuple[str, str, str], str] = {}


class ReleaseUnreachableError(ModelDownloadError):
    """The release (or its mirror) cannot be reached or does not have this version."""


@dataclass(frozen=True)
class Release:
    version: str
    host: HostPlatform
    base_url: str

    @property
    def archive_name(self) -> str:
        extension = "zip" if self.host.os == "windows" else "tar.gz"
        return f"livekit_{self.version}_{self.host.os}_{self.host.arch}.{extension}"

    @property
    def checksums_name(self) -> str:
        return f"livekit_{self.version}_checksums.txt"

    def url(self, name: str) -> str:
        return f"{self.base_url.rstrip('/')}/v{self.version}/{name}"

    @property
    def binary_name(self) -> str:
        return f"livekit-server{self.host.exe_suffix}"


def parse_checksums(text: str) -> dict[str, str]:
    """``<sha256>  <file name>`` lines (goreleaser's format)."""
    sums: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and len(parts[0]) == 64:
            sums[parts[1].lstrip("*")] = parts[0].lower()
    return sums


def extract_binary(archive: Path, member_name: str) -> bytes:
    """The bytes of the server binary inside a release archive."""
    try:
        if archive.name.endswith(".zip"):
            with zipfile.ZipFile(archive) as zipped:
                for info in zipped.infolist():
                    if Path(info.filename).name == member_name:
                        return zipped.read(info)
        else:
            with tarfile.open(archive, "r:gz") as tarred:
                for member in tarred.getmembers():
                    if member.isfile() and Path(member.name).name == member_name:
                        extracted = tarred.extractfile(member)
                        if extracted is not None:
                            return extracted.read()
    except (tarfile.TarError, zipfile.BadZipFile, OSError) as exc:
        raise ModelIntegrityError(f"the livekit-server archive is unreadable ({exc})") from None
    raise ModelIntegrityError(f"the livekit-server archive holds no {member_name}")


def fetch_livekit(
    *,
    target_dir: Path,
    version: str = LIVEKIT_VERSION,
    base_url: str = RELEASE_BASE_URL,
    host: HostPlatform | None = None,
    options: FetchOptions | None = None,
    progress: ProgressCallback | None = None,
) -> Path:
    """Install livekit-server into ``target_dir`` and return its path."""
    release = Release(version=version, host=host or host_platform(), base_url=base_url)
    target_dir.mkdir(parents=True, exist_ok=True)
    final = target_dir / release.binary_name
    with (
        ModelLock(target_dir / ".livekit-server.lock", timeout_s=600),
        Fetcher(options or FetchOptions()) as fetcher,
    ):
        pinned = PINNED_SHA256.get((version, release.host.os, release.host.arch))
        expected = _expected_digest(release, pinned, fetcher.options)
        archive = target_dir / release.archive_name
        tracker = ProgressTracker(
            model=f"livekit-server {version}", kind="binary", total=None, callback=progress
        )
        tracker.started()
        fetcher.download(
            release.url(release.archive_name),
            archive,
            what=f"livekit-server {version}",
            expected=expected,
            size=None,
            tracker=tracker,
        )
        logger.info("%s sha256 %s", release.archive_name, sha256_file(archive))
        try:
            data = extract_binary(archive, release.binary_name)
            tmp = target_dir / f".{release.binary_name}.tmp-{os.getpid()}"
            with tmp.open("wb") as out:
                shutil.copyfileobj(io.BytesIO(data), out)
            tmp.chmod(tmp.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
            tmp.replace(final)
        finally:
            archive.unlink(missing_ok=True)
        tracker.finished()
    logger.info("livekit-server %s installed at %s (%s)", version, final, expected.source)
    return final


def _expected_digest(release: Release, pinned: str | None, options: FetchOptions) -> ExpectedDigest:
    if pinned:
        return ExpectedDigest("sha256", pinned, "pinned")
    import httpx2 as httpx

    url = release.url(release.checksums_name)
    try:
        response = httpx.get(
            url,
            follow_redirects=True,
            timeout=options.connect_timeout_s,
            trust_env=options.trust_env,
        )
    except httpx.HTTPError as exc:
        raise ReleaseUnreachableError(
            f"cannot reach {host_label(url)} for the livekit-server {release.version} checksums "
            f"({type(exc).__name__})"
        ) from None
    if response.status_code != 200:
        raise ReleaseUnreachableError(
            f"{host_label(url)} has no checksums for livekit-server {release.version} "
            f"(HTTP {response.status_code}); is the version or mirror right?"
        )
    sums = parse_checksums(response.text)
    if release.archive_name not in sums:
        raise ModelIntegrityError(
            f"the published checksums do not list {release.archive_name}; refusing to install"
        )
    return ExpectedDigest("sha256", sums[release.archive_name], "release checksums")
