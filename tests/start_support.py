"""Helpers for the ``voice-sidecar start`` tests: LiveKit's release layout on 127.0.0.1."""

from __future__ import annotations

import hashlib
import io
import tarfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from voice_sidecar.livekit_server.fetch import Release
from voice_sidecar.livekit_server.platform_names import host_platform
from voice_sidecar.livekit_server.version import LIVEKIT_VERSION

from .livekit_fixtures import write_fake_binary


def publish_fake_release(root: Path) -> None:
    """The pinned release for this platform, its binary being the fake server, with checksums."""
    release = Release(LIVEKIT_VERSION, host_platform(), "unused")
    script = write_fake_binary(root / "build").read_bytes()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tarred:
        info = tarfile.TarInfo(release.binary_name)
        info.size = len(script)
        info.mode = 0o755
        tarred.addfile(info, io.BytesIO(script))
    folder = root / f"v{LIVEKIT_VERSION}"
    folder.mkdir(parents=True)
    (folder / release.archive_name).write_bytes(buffer.getvalue())
    digest = hashlib.sha256(buffer.getvalue()).hexdigest()
    (folder / release.checksums_name).write_text(f"{digest}  {release.archive_name}\n")


@contextmanager
def release_mirror(root: Path) -> Iterator[str]:
    """Serve ``root`` (with the fake release published in it) and yield its base URL."""
    publish_fake_release(root)
    handler = partial(SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *args: None  # type: ignore[attr-defined]
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
