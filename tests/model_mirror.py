"""A real HTTP model mirror on 127.0.0.1, shaped like Hugging Face, with failure knobs.

``GET/HEAD /{repo}/resolve/{revision}/{path}``. Like Hugging Face, a large
("LFS") file answers with a 302 to a content-addressed ``/cdn/<sha256>`` URL
and puts ``X-Linked-Etag`` (its SHA-256) and ``X-Linked-Size`` on the redirect;
a small file is served directly with its git blob SHA-1 as ``ETag``. Ranges
are honoured. Knobs (per repository path) make it drop the connection half way,
flip a byte, publish no hash, or trickle bytes slowly.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote

LFS_THRESHOLD = 1_000_000


@dataclass
class MirrorFile:
    source: Path | list[Path]
    """The file, or parts that are served joined (the packaged base model)."""
    size: int = 0
    sha256: str = ""
    git_sha1: str = ""

    def chunks(self, start: int = 0, block: int = 256 * 1024) -> Iterator[bytes]:
        offset = 0
        for part in self.source if isinstance(self.source, list) else [self.source]:
            with part.open("rb") as stream:
                while data := stream.read(block):
                    end = offset + len(data)
                    if end > start:
                        yield data[max(0, start - offset) :]
                    offset = end


def describe(source: Path | list[Path]) -> MirrorFile:
    item = MirrorFile(source)
    sha = hashlib.sha256()
    size = 0
    for block in item.chunks():
        sha.update(block)
        size += len(block)
    git = hashlib.sha1(f"blob {size}\0".encode(), usedforsecurity=False)
    for block in item.chunks():
        git.update(block)
    item.size, item.sha256, item.git_sha1 = size, sha.hexdigest(), git.hexdigest()
    return item


@dataclass
class Knobs:
    drop_after: dict[str, int] = field(default_factory=dict)
    """path -> bytes: the first response of that file closes the connection after them."""
    corrupt: dict[str, int] = field(default_factory=dict)
    """path -> how many responses flip a byte in the middle of the file."""
    no_hash: bool = False
    """Publish no ETag at all (a plain static mirror)."""
    trickle_s: float = 0.0
    """Sleep between 256 KiB blocks."""
    fail_status: dict[str, int] = field(default_factory=dict)
    """path -> HTTP status to answer instead of the file."""
    gate: dict[str, threading.Event] = field(default_factory=dict)
    """path -> an event the file's body waits for (hold a download open)."""


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    range: str | None
    file: str
    """The repository path the request is for (also for a ``/cdn/`` URL)."""


class ModelMirror:
    """``with ModelMirror() as mirror: mirror.add(repo, revision, path, file)``."""

    def __init__(self) -> None:
        self.files: dict[str, MirrorFile] = {}
        self.by_sha: dict[str, MirrorFile] = {}
        self.knobs = Knobs()
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def add(self, repo: str, revision: str, path: str, source: Path | list[Path]) -> MirrorFile:
        item = describe(source)
        self.files[f"/{repo}/resolve/{revision}/{path}"] = item
        self.by_sha[item.sha256] = item
        return item

    def gets(self, suffix: str) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.method == "GET" and r.file.endswith(suffix)]

    def downloads(self, suffix: str) -> list[Request]:
        """GETs that carried a file's bytes (the CDN URL of a large file, else the file)."""
        return [
            r
            for r in self.gets(suffix)
            if r.path.startswith("/cdn/")
            or self.files.get(r.path, MirrorFile(Path())).size < LFS_THRESHOLD
        ]

    def start(self) -> ModelMirror:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> ModelMirror:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        mirror = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_HEAD(self) -> None:
                self._serve(body=False)

            def do_GET(self) -> None:
                self._serve(body=True)

            def _serve(self, *, body: bool) -> None:
                path = unquote(self.path)
                file = path.rpartition("/resolve/")[2].partition("/")[2]
                if path.startswith("/cdn/"):
                    item = mirror.by_sha.get(path.removeprefix("/cdn/"))
                    key = next((k for k, v in mirror.files.items() if v is item), "")
                    file = key.rpartition("/resolve/")[2].partition("/")[2]
                with mirror._lock:
                    mirror.requests.append(
                        Request(self.command, path, self.headers.get("Range"), file)
                    )
                knobs = mirror.knobs
                if path.startswith("/cdn/"):
                    item = mirror.by_sha.get(path.removeprefix("/cdn/"))
                    key = next((k for k, v in mirror.files.items() if v is item), "")
                    if item is None:
                        self._status(404)
                        return
                    self._send(item, key, body=body, etag=None)
                    return
                item = mirror.files.get(path)
                if item is None:
                    self._status(404)
                    return
                status = knobs.fail_status.get(path.rpartition("/resolve/")[2].split("/", 1)[1])
                if status:
                    self._status(status)
                    return
                if item.size >= LFS_THRESHOLD:
                    self.send_response(302)
                    self.send_header("Location", f"/cdn/{item.sha256}")
                    if not knobs.no_hash:
                        self.send_header("X-Linked-Etag", f'"{item.sha256}"')
                        self.send_header("X-Linked-Size", str(item.size))
                        self.send_header("ETag", '"redirect-etag"')
                    self.send_header("X-Repo-Commit", "0" * 40)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self._send(item, path, body=body, etag=None if knobs.no_hash else item.git_sha1)

            def _status(self, code: int) -> None:
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def _send(self, item: MirrorFile, key: str, *, body: bool, etag: str | None) -> None:
                knobs = mirror.knobs
                repo_path = key.rpartition("/resolve/")[2].split("/", 1)[-1]
                start = 0
                requested = self.headers.get("Range")
                if requested and requested.startswith("bytes="):
                    start = int(requested.removeprefix("bytes=").split("-")[0])
                    if start >= item.size:
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{item.size}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{item.size - 1}/{item.size}")
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(item.size - start))
                self.send_header("Accept-Ranges", "bytes")
                if etag:
                    self.send_header("ETag", f'"{etag}"')
                self.end_headers()
                if not body:
                    return
                gate = knobs.gate.get(repo_path)
                if gate is not None:
                    gate.wait(timeout=60)
                with mirror._lock:
                    drop = knobs.drop_after.pop(repo_path, None)
                    corrupt = knobs.corrupt.get(repo_path, 0) > 0
                    if corrupt:
                        knobs.corrupt[repo_path] -= 1
                flip_at = item.size // 2
                offset = start
                sent = 0
                for block in item.chunks(start):
                    if corrupt and offset <= flip_at < offset + len(block):
                        data = bytearray(block)
                        data[flip_at - offset] ^= 0xFF
                        block = bytes(data)
                    if drop is not None and sent + len(block) > drop:
                        self.wfile.write(block[: drop - sent])
                        self.wfile.flush()
                        self.close_connection = True
                        self.connection.shutdown(2)
                        return
                    try:
                        self.wfile.write(block)
                    except (BrokenPipeError, ConnectionResetError):
                        return
                    offset += len(block)
                    sent += len(block)
                    if knobs.trickle_s:
                        time.sleep(knobs.trickle_s)

        return Handler
