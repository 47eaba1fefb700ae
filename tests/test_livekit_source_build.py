"""livekit-server built from source: a real ``go install`` against a module proxy on 127.0.0.1.

The proxy (a plain HTTP file server in the module proxy protocol's layout) serves a tiny
stand-in module under livekit-server's module path, so every path of ``source_build`` runs Go
for real in seconds without the network: the build, the version check, the cache, and each
failure's one-line message. CI builds the real server with ``scripts/build-livekit-server.sh``.
"""

from __future__ import annotations

import functools
import io
import json
import os
import shutil
import subprocess
import sys
import threading
import zipfile
from collections.abc import Callable, Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from voice_sidecar.errors import ModelDownloadError
from voice_sidecar.livekit_server.install import InstallRequest, install_livekit
from voice_sidecar.livekit_server.source_build import (
    SourceBuildError,
    build_from_source,
    explain_go_failure,
    version_of,
)
from voice_sidecar.livekit_server.version import GO_MODULE, LIVEKIT_VERSION

from .up_support import home_env

REPO = Path(__file__).resolve().parents[1]
GO = shutil.which("go")
needs_go = pytest.mark.skipif(GO is None, reason="Go is not installed")

MAIN_GO = """package main

import (
	"fmt"
	"os"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "--version" {
		fmt.Println("livekit-server version %s")
		return
	}
	fmt.Println("stand-in")
}
"""


def write_module_proxy(root: Path, version: str, *, reports: str) -> Path:
    """A GOPROXY folder serving ``GO_MODULE`` at ``version`` (the module proxy protocol)."""
    folder = root.joinpath(*GO_MODULE.split("/"), "@v")
    folder.mkdir(parents=True)
    tag = f"v{version}"
    go_mod = f"module {GO_MODULE}\n\ngo 1.21\n"
    (folder / "list").write_text(f"{tag}\n")
    (folder / f"{tag}.info").write_text(
        json.dumps({"Version": tag, "Time": "2026-01-01T00:00:00Z"})
    )
    (folder / f"{tag}.mod").write_text(go_mod)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        prefix = f"{GO_MODULE}@{tag}/"
        archive.writestr(prefix + "go.mod", go_mod)
        archive.writestr(prefix + "cmd/server/main.go", MAIN_GO % reports)
    (folder / f"{tag}.zip").write_bytes(buffer.getvalue())
    return root


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def serve() -> Iterator[Callable[[Path], str]]:
    """Serve a folder over HTTP on 127.0.0.1 (a missing file is a 404, as on the real proxy)."""
    servers: list[ThreadingHTTPServer] = []

    def start(folder: Path) -> str:
        server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_QuietHandler, directory=folder))
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@functools.cache
def _go_build_cache() -> str:
    """The user's Go build cache, kept when a test moves HOME (compiled code only, no modules)."""
    done = subprocess.run(
        [GO or "go", "env", "GOCACHE"], capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def go_env(tmp_path: Path, proxy: str) -> dict[str, str]:
    """Go with its own module cache and the given proxy: no module from the user's caches."""
    return {
        **os.environ,
        "GOCACHE": _go_build_cache(),
        "GOPROXY": proxy,
        "GOMODCACHE": str(tmp_path / "gomodcache"),
        "GOSUMDB": "off",
        "GOFLAGS": "-modcacherw -buildvcs=false",
        "GOTOOLCHAIN": "local",
    }


def _clean_modcache(tmp_path: Path) -> None:
    # Go writes its module cache read-only; -modcacherw above lets pytest remove it
    shutil.rmtree(tmp_path / "gomodcache", ignore_errors=True)


@needs_go
def test_builds_the_pinned_version_and_reuses_it(
    tmp_path: Path, serve: Callable[[Path], str]
) -> None:
    proxy = serve(write_module_proxy(tmp_path / "proxy", LIVEKIT_VERSION, reports=LIVEKIT_VERSION))
    env = go_env(tmp_path, proxy)
    cache = tmp_path / "cache"
    built = build_from_source(cache_root=cache, environ=env)
    assert built == cache / LIVEKIT_VERSION / "livekit-server"
    assert version_of(built) == LIVEKIT_VERSION
    assert [p.name for p in built.parent.iterdir()] == ["livekit-server"], "no build leftovers"
    mtime = built.stat().st_mtime_ns
    # a second run finds it and runs no Go at all (an unreachable proxy would fail a build)
    offline = go_env(tmp_path, "http://127.0.0.1:9")
    assert build_from_source(cache_root=cache, environ=offline) == built
    assert built.stat().st_mtime_ns == mtime
    _clean_modcache(tmp_path)


@needs_go
def test_a_build_that_reports_another_version_is_refused(
    tmp_path: Path, serve: Callable[[Path], str]
) -> None:
    proxy = serve(write_module_proxy(tmp_path / "proxy", LIVEKIT_VERSION, reports="0.0.1"))
    cache = tmp_path / "cache"
    with pytest.raises(SourceBuildError, match=r"reports version 0\.0\.1, not .*refusing"):
        build_from_source(cache_root=cache, environ=go_env(tmp_path, proxy))
    assert not (cache / LIVEKIT_VERSION / "livekit-server").exists()
    assert list((cache / LIVEKIT_VERSION).iterdir()) == [], "the scratch folder is removed"
    _clean_modcache(tmp_path)


@needs_go
def test_an_unreachable_proxy_is_one_line(tmp_path: Path) -> None:
    env = go_env(tmp_path, "http://127.0.0.1:9")
    with pytest.raises(SourceBuildError) as caught:
        build_from_source(cache_root=tmp_path / "cache", environ=env)
    message = str(caught.value)
    assert "\n" not in message
    assert "Go module proxy (http://127.0.0.1:9) cannot be reached" in message
    assert "fetch-livekit" in message


@needs_go
def test_a_version_the_proxy_does_not_serve(tmp_path: Path, serve: Callable[[Path], str]) -> None:
    proxy = serve(write_module_proxy(tmp_path / "proxy", LIVEKIT_VERSION, reports=LIVEKIT_VERSION))
    with pytest.raises(SourceBuildError, match=r"does not serve livekit-server 0\.0\.7"):
        build_from_source(
            version="0.0.7", cache_root=tmp_path / "cache", environ=go_env(tmp_path, proxy)
        )
    _clean_modcache(tmp_path)


def test_without_go_says_how_to_get_the_server(tmp_path: Path) -> None:
    env = {**os.environ, "PATH": str(tmp_path)}  # no go on it
    with pytest.raises(SourceBuildError) as caught:
        build_from_source(cache_root=tmp_path / "cache", environ=env)
    assert str(caught.value).startswith("Go is not installed")
    assert "fetch-livekit" in str(caught.value)
    assert caught.value.exit_code == 5


@pytest.mark.parametrize(
    ("stderr", "expected"),
    [
        ("dial tcp 127.0.0.1:9: connect: connection refused", "cannot be reached"),
        ("lookup proxy.invalid: no such host", "cannot be reached"),
        ("reading .../@v/v1.9.1.info: 403 Forbidden", "does not serve"),
        ("reading https://p/x/@v/v0.info: 404 Not Found", "does not serve"),
        ("go: cannot find main module\nsome/pkg: build constraints exclude all Go files", "failed"),
    ],
)
def test_go_failures_are_explained(stderr: str, expected: str) -> None:
    message = explain_go_failure(stderr, version="1.9.11", goproxy="P").message
    assert expected in message
    assert "\n" not in message


@needs_go
def test_the_script_prints_the_path_and_fails_in_one_line(
    tmp_path: Path, serve: Callable[[Path], str]
) -> None:
    """scripts/build-livekit-server.sh with nothing but Python (no .venv on its PATH)."""
    proxy = serve(write_module_proxy(tmp_path / "proxy", LIVEKIT_VERSION, reports=LIVEKIT_VERSION))
    script = REPO / "scripts" / "build-livekit-server.sh"
    env = go_env(tmp_path, proxy) | {"PYTHON": shutil.which("python3") or "python3"}
    done = subprocess.run(
        [str(script), "--cache-dir", str(tmp_path / "cache")],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    path = Path(done.stdout.strip())
    assert path.is_file()
    assert version_of(path) == LIVEKIT_VERSION
    failed = subprocess.run(
        [str(script), "--cache-dir", str(tmp_path / "other")],
        env=env | {"GOPROXY": "http://127.0.0.1:9"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert failed.returncode == 5
    assert failed.stdout == ""
    assert len(failed.stderr.strip().splitlines()) == 1
    assert failed.stderr.startswith("build-livekit-server: the Go module proxy")
    _clean_modcache(tmp_path)


# -- the release download first, then the source build -----------------------------------------


@needs_go
def test_an_unreachable_release_offers_the_source_build(
    tmp_path: Path, serve: Callable[[Path], str]
) -> None:
    proxy = serve(write_module_proxy(tmp_path / "proxy", LIVEKIT_VERSION, reports=LIVEKIT_VERSION))
    env = go_env(tmp_path, proxy)
    request = InstallRequest(
        target_dir=tmp_path / "bin",
        base_url="http://127.0.0.1:9/releases",
        source_cache=tmp_path / "source-cache",
    )
    questions: list[str] = []

    def decline(question: str) -> bool:
        questions.append(question)
        return False

    with pytest.raises(ModelDownloadError) as caught:
        install_livekit(request, ask=decline, environ=env)
    message = str(caught.value)
    assert "\n" not in message
    assert "the mirror 127.0.0.1:9" in message
    assert "--from-source" in message
    assert "LIVEKIT_SERVER_BIN" in message
    assert len(questions) == 1
    assert "Build the same version from source" in questions[0]
    assert not (tmp_path / "bin" / "livekit-server").exists()

    installed = install_livekit(request, ask=lambda _: True, environ=env)
    assert installed == tmp_path / "bin" / "livekit-server"
    assert version_of(installed) == LIVEKIT_VERSION
    _clean_modcache(tmp_path)


def test_without_go_the_error_names_every_other_way(tmp_path: Path) -> None:
    env = {**os.environ, "PATH": str(tmp_path)}
    request = InstallRequest(target_dir=tmp_path / "bin")
    from voice_sidecar.livekit_server import install

    message = install.unreachable_advice(request, "ConnectError", go_installed=False)
    assert "LiveKit's releases" in message
    assert "--from-source" not in message
    assert "--base-url" in message
    assert "LIVEKIT_SERVER_BIN" in message
    asked: list[str] = []

    def ask(question: str) -> bool:
        asked.append(question)
        return True

    with pytest.raises(ModelDownloadError, match="could not be downloaded"):
        install_livekit(
            InstallRequest(target_dir=tmp_path / "bin", base_url="http://127.0.0.1:9/r"),
            ask=ask,
            environ=env,
        )
    assert asked == [], "no source build is offered without Go"


# -- the commands: fetch-livekit and start -----------------------------------------------------


@needs_go
def test_fetch_livekit_from_source_and_its_advice_without_a_terminal(
    tmp_path: Path, serve: Callable[[Path], str]
) -> None:
    """Offline for the release, Go proxy reachable: the error says --from-source; it works."""
    proxy = serve(write_module_proxy(tmp_path / "proxy", LIVEKIT_VERSION, reports=LIVEKIT_VERSION))
    env = go_env(tmp_path, proxy) | home_env(tmp_path)
    argv = [sys.executable, "-m", "voice_sidecar", "fetch-livekit", "--dir", str(tmp_path / "bin")]
    refused = subprocess.run(
        [*argv, "--base-url", "http://127.0.0.1:9/releases"],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert refused.returncode == 4
    error_lines = [line for line in refused.stderr.splitlines() if line.strip()]
    assert len(error_lines) == 1, refused.stderr
    assert "run again with --from-source" in error_lines[0]
    built = subprocess.run(
        [*argv, "--from-source"], env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert built.returncode == 0, built.stderr
    installed = Path(built.stdout.strip().splitlines()[-1])
    assert installed == tmp_path / "bin" / "livekit-server"
    assert version_of(installed) == LIVEKIT_VERSION
    # the source build was cached in the (test's own) user cache, keyed by version
    cached = tmp_path / "cache" / "private-assistant" / "voice-sidecar" / "livekit-source"
    assert (cached / LIVEKIT_VERSION / "livekit-server").is_file()
    _clean_modcache(tmp_path)


@needs_go
def test_start_builds_from_source_when_told(
    tmp_path: Path, serve: Callable[[Path], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from voice_sidecar.commands.start_cmd import ensure_livekit

    from .test_start_decisions import _context, _start_args

    proxy = serve(write_module_proxy(tmp_path / "proxy", LIVEKIT_VERSION, reports=LIVEKIT_VERSION))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    context = _context(tmp_path, environ=go_env(tmp_path, proxy) | {"LIVEKIT_SERVER_BIN": ""})
    args = _start_args("--livekit-from-source", "--livekit-base-url", "http://127.0.0.1:9")
    path = ensure_livekit(args, context)
    assert path == tmp_path / "cache" / "private-assistant" / "voice-sidecar" / "bin" / path.name
    assert version_of(path) == LIVEKIT_VERSION
    _clean_modcache(tmp_path)
