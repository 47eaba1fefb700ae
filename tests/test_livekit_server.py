"""Finding, configuring and fetching livekit-server."""

from __future__ import annotations

import hashlib
import io
import tarfile
import threading
import zipfile
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from voice_sidecar.errors import ModelIntegrityError
from voice_sidecar.livekit_server.fetch import Release, fetch_livekit, parse_checksums
from voice_sidecar.livekit_server.locate import (
    LiveKitNotFoundError,
    candidate_paths,
    find_livekit_server,
)
from voice_sidecar.livekit_server.platform_names import HostPlatform, host_platform
from voice_sidecar.livekit_server.server_config import (
    LiveKitPorts,
    render_config,
    server_argv,
    server_environment,
)
from voice_sidecar.models.http_fetch import FetchOptions
from voice_sidecar.secret_store import LiveKitCredentials

LINUX = HostPlatform("linux", "amd64")
WINDOWS = HostPlatform("windows", "amd64")
CREDENTIALS = LiveKitCredentials("APItest", "s" * 40)


@pytest.mark.parametrize(
    ("system", "machine", "triple"),
    [
        ("linux", "x86_64", "x86_64-unknown-linux-gnu"),
        ("linux", "aarch64", "aarch64-unknown-linux-gnu"),
        ("win32", "AMD64", "x86_64-pc-windows-msvc"),
        ("darwin", "arm64", "aarch64-apple-darwin"),
    ],
)
def test_target_triples(system: str, machine: str, triple: str) -> None:
    assert host_platform(system, machine).target_triple == triple


def test_sidecar_names_follow_tauri() -> None:
    assert WINDOWS.sidecar_name("livekit-server") == "livekit-server-x86_64-pc-windows-msvc.exe"
    linux = host_platform("Linux", "x86_64")
    assert linux.sidecar_name("voice-sidecar") == "voice-sidecar-x86_64-unknown-linux-gnu"


def test_candidates_in_order(tmp_path: Path) -> None:
    found = candidate_paths(
        executable=tmp_path / "app" / "voice-sidecar-x86_64-pc-windows-msvc.exe",
        frozen=True,
        environ={"LIVEKIT_SERVER_BIN": "/opt/lk/livekit-server"},
        cache_bin_dir=tmp_path / "cache",
        host=WINDOWS,
    )
    assert [how for _, how in found] == [
        "beside the sidecar",
        "beside the sidecar",
        "LIVEKIT_SERVER_BIN",
        "user cache (fetch-livekit)",
    ]
    assert found[0][0] == tmp_path / "app" / "livekit-server.exe"
    assert found[1][0].name == "livekit-server-x86_64-pc-windows-msvc.exe"


def test_packaged_app_looks_beside_the_launcher_first(tmp_path: Path) -> None:
    # Tauri installs livekit-server beside the launcher; the bundle lives among the resources
    found = candidate_paths(
        executable=tmp_path / "resources" / "voice-sidecar-bundle" / "voice-sidecar",
        frozen=True,
        environ={"VOICE_SIDECAR_LAUNCHER_DIR": str(tmp_path / "binaries")},
        cache_bin_dir=tmp_path / "cache",
        host=host_platform("Linux", "x86_64"),
    )
    assert found[0] == (tmp_path / "binaries" / "livekit-server", "beside the launcher")
    assert found[1] == (
        tmp_path / "binaries" / "livekit-server-x86_64-unknown-linux-gnu",
        "beside the launcher",
    )
    assert [how for _, how in found][2:4] == ["beside the sidecar", "beside the sidecar"]


def _executable(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n")
    path.chmod(0o755)
    return path


def test_find_prefers_env_then_cache_then_path(tmp_path: Path) -> None:
    env_bin = _executable(tmp_path / "env" / "livekit-server")
    cache = tmp_path / "cache"
    on_path = _executable(tmp_path / "path" / "livekit-server")
    environ = {"LIVEKIT_SERVER_BIN": str(env_bin), "PATH": str(on_path.parent)}
    assert find_livekit_server(environ=environ, cache_bin_dir=cache).how == "LIVEKIT_SERVER_BIN"
    environ.pop("LIVEKIT_SERVER_BIN")
    assert find_livekit_server(environ=environ, cache_bin_dir=cache).how == "PATH"
    _executable(cache / "livekit-server")
    assert find_livekit_server(environ=environ, cache_bin_dir=cache).how.startswith("user cache")


def test_not_found_says_how_to_get_it(tmp_path: Path) -> None:
    with pytest.raises(LiveKitNotFoundError, match="run 'voice-sidecar fetch-livekit'") as caught:
        find_livekit_server(environ={"PATH": str(tmp_path)}, cache_bin_dir=tmp_path)
    assert caught.value.exit_code == 5


def test_bad_env_path_is_named(tmp_path: Path) -> None:
    with pytest.raises(LiveKitNotFoundError, match="not an executable file"):
        find_livekit_server(
            environ={"LIVEKIT_SERVER_BIN": str(tmp_path / "nope")}, cache_bin_dir=tmp_path
        )


def test_config_is_loopback_only_and_holds_no_secret() -> None:
    text = render_config(LiveKitPorts(17880, 17881, 17882))
    assert "port: 17880" in text
    assert "bind_addresses:\n  - 127.0.0.1" in text
    assert "node_ip: 127.0.0.1" in text
    assert "use_external_ip: false" in text
    assert "udp_port: 17882" in text
    assert "tcp_port: 17881" in text
    assert "0.0.0.0" not in text
    assert CREDENTIALS.api_secret not in text
    assert "keys" not in text


def test_secrets_go_through_the_environment_only() -> None:
    env = server_environment(
        {"PATH": "/bin", "LIVEKIT_KEYS": "old: x", "LIVEKIT_URL": "u"}, CREDENTIALS
    )
    assert env["LIVEKIT_KEYS"] == f"APItest: {CREDENTIALS.api_secret}"
    assert "LIVEKIT_URL" not in env
    argv = server_argv("/bin/livekit-server", "/run/lk.yaml")
    assert argv == ["/bin/livekit-server", "--config", "/run/lk.yaml"]
    assert "--dev" not in argv
    assert not any(CREDENTIALS.api_secret in part for part in argv)


# -- fetch ---------------------------------------------------------------------


@pytest.fixture
def release_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    root = tmp_path / "releases"
    root.mkdir()
    handler = partial(SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *args: None  # type: ignore[attr-defined]
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", root
    server.shutdown()
    server.server_close()


BINARY = b"#!/bin/sh\necho livekit-server fake 1.9.1\n"


def _publish(root: Path, release: Release, *, corrupt: bool = False, listed: bool = True) -> None:
    folder = root / f"v{release.version}"
    folder.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    if release.archive_name.endswith(".zip"):
        with zipfile.ZipFile(buffer, "w") as zipped:
            zipped.writestr(release.binary_name, BINARY)
            zipped.writestr("LICENSE", "Apache-2.0")
    else:
        with tarfile.open(fileobj=buffer, mode="w:gz") as tarred:
            for name, data in ((release.binary_name, BINARY), ("LICENSE", b"Apache-2.0")):
                info = tarfile.TarInfo(name)
                info.size = len(data)
                info.mode = 0o755
                tarred.addfile(info, io.BytesIO(data))
    data = buffer.getvalue()
    digest = hashlib.sha256(data).hexdigest()
    if corrupt:
        data = data[:100] + bytes([data[100] ^ 0xFF]) + data[101:]
    (folder / release.archive_name).write_bytes(data)
    lines = [f"{'0' * 64}  livekit_{release.version}_darwin_arm64.tar.gz"]
    if listed:
        lines.append(f"{digest}  {release.archive_name}")
    (folder / release.checksums_name).write_text("\n".join(lines) + "\n")


FAST = FetchOptions(attempts=2, backoff_s=0.0, connect_timeout_s=5, read_timeout_s=5)


@pytest.mark.parametrize("host", [LINUX, WINDOWS])
def test_fetch_installs_a_verified_binary(
    release_server: tuple[str, Path], tmp_path: Path, host: HostPlatform
) -> None:
    base, root = release_server
    release = Release("1.9.1", host, base)
    _publish(root, release)
    target = tmp_path / "bin"
    path = fetch_livekit(target_dir=target, version="1.9.1", base_url=base, host=host, options=FAST)
    assert path == target / release.binary_name
    assert path.read_bytes() == BINARY
    assert path.stat().st_mode & 0o111
    assert sorted(p.name for p in target.iterdir() if not p.name.startswith(".")) == [
        release.binary_name
    ]


def test_fetch_refuses_a_corrupt_archive(release_server: tuple[str, Path], tmp_path: Path) -> None:
    base, root = release_server
    _publish(root, Release("1.9.1", LINUX, base), corrupt=True)
    target = tmp_path / "bin"
    with pytest.raises(ModelIntegrityError):
        fetch_livekit(target_dir=target, version="1.9.1", base_url=base, host=LINUX, options=FAST)
    assert not (target / "livekit-server").exists()


def test_fetch_refuses_an_unlisted_archive(
    release_server: tuple[str, Path], tmp_path: Path
) -> None:
    base, root = release_server
    _publish(root, Release("1.9.1", LINUX, base), listed=False)
    with pytest.raises(ModelIntegrityError, match="do not list"):
        fetch_livekit(target_dir=tmp_path, version="1.9.1", base_url=base, host=LINUX, options=FAST)


def test_parse_checksums() -> None:
    text = f"{'a' * 64}  x.tar.gz\n{'b' * 64} *y.zip\nnot a line\n"
    assert parse_checksums(text) == {"x.tar.gz": "a" * 64, "y.zip": "b" * 64}
