"""Downloads from a real HTTP mirror on 127.0.0.1: verified, resumable, never half-installed."""

from __future__ import annotations

import http.client
import shutil
import socket
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from voice_sidecar.errors import (
    DiskFullError,
    ModelIntegrityError,
    ModelLoadError,
    ModelOfflineError,
)
from voice_sidecar.models.http_fetch import FetchOptions
from voice_sidecar.models.locate import locate_voice, locate_whisper
from voice_sidecar.models.manager import ModelManager
from voice_sidecar.models.markers import COMPLETE, INCOMPLETE, read_marker
from voice_sidecar.models.provide import ModelProvider
from voice_sidecar.models.store import QUARANTINE_DIR, ModelStore
from voice_sidecar.plugins.whisper import WhisperEngine
from voice_sidecar.settings import ModelSettings

from .conftest import SpeechFiles
from .model_mirror import ModelMirror
from .models_support import (
    TINY_TOTAL,
    Events,
    download_catalog,
    make_manager,
    serve_bundled,
    tiny_files,
)


@pytest.fixture
def mirror() -> Iterator[ModelMirror]:
    with ModelMirror() as server:
        serve_bundled(server)
        yield server


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "models"


def _assert_tiny_installed(manager: ModelManager, root: Path) -> Path:
    directory = root / "whisper" / "dl-tiny.en"
    assert (directory / COMPLETE).is_file()
    assert not (directory / INCOMPLETE).exists()
    assert sorted(p.name for p in directory.iterdir()) == sorted(
        [COMPLETE, "config.json", "model.bin", "tokenizer.json", "vocabulary.txt"]
    ), "stray temporary files"
    for name, source in tiny_files().items():
        assert (directory / name).read_bytes() == source.read_bytes(), name
    return directory


def test_fresh_download_installs_verified_files_and_reports_progress(
    mirror: ModelMirror, root: Path
) -> None:
    manager = make_manager(root, mirror.url)
    events = Events()
    result = manager.pull(manager.model("dl-tiny.en"), progress=events)
    assert result.fetched
    assert result.bytes_fetched == TINY_TOTAL
    directory = _assert_tiny_installed(manager, root)
    marker = read_marker(directory)
    assert marker is not None
    assert marker.files["model.bin"].sha256 == manager.model("dl-tiny.en").file("model.bin").sha256
    # progress: a known total from the catalog, monotonic, ending at the total
    assert events[0].event == "model_download_started"
    assert events[-1].event == "model_download_finished"
    assert {e.total for e in events} == {TINY_TOTAL}
    counts = [e.bytes for e in events]
    assert counts == sorted(counts)
    assert counts[-1] == TINY_TOTAL
    for name in tiny_files():
        per_file = [e.file_bytes for e in events if e.file == name]
        assert per_file == sorted(per_file), name
    assert [e.file for e in events.named("model_download_file_done")] == [
        "config.json",
        "model.bin",
        "tokenizer.json",
        "vocabulary.txt",
    ]
    # a second pull fetches nothing
    again = manager.pull(manager.model("dl-tiny.en"))
    assert not again.fetched
    assert len(mirror.downloads("model.bin")) == 1


def test_dropped_connection_is_resumed_with_range_and_the_hash_matches(
    mirror: ModelMirror, root: Path
) -> None:
    mirror.knobs.drop_after["model.bin"] = 30_000_000
    manager = make_manager(root, mirror.url)
    events = Events()
    manager.pull(manager.model("dl-tiny.en"), progress=events)
    _assert_tiny_installed(manager, root)
    # the resolve URL redirects to the content URL; the retry asks for the rest only
    ranges = [r.range for r in mirror.downloads("model.bin")]
    assert ranges[0] is None
    assert ranges[1] is not None
    assert ranges[1].startswith("bytes=")
    assert int(ranges[1].removeprefix("bytes=").rstrip("-")) >= 29_000_000
    assert events.named("model_download_retry"), "the retry was not reported"
    counts = [e.bytes for e in events]
    assert counts == sorted(counts)


def test_interrupted_install_resumes_from_the_part_file(mirror: ModelMirror, root: Path) -> None:
    """A process killed half way leaves NAME.part and .incomplete; the next pull resumes."""
    manager = make_manager(root, mirror.url)
    directory = root / "whisper" / "dl-tiny.en"
    directory.mkdir(parents=True)
    (directory / INCOMPLETE).write_text("{}")
    head = tiny_files()["model.bin"].read_bytes()[:12_345_678]
    (directory / "model.bin.part").write_bytes(head)
    with pytest.raises(Exception, match="not installed"):
        locate_whisper("dl-tiny.en", models_dir=root, cache_dir=root)
    assert manager.store.state(manager.model("dl-tiny.en")) == "partial"
    manager.pull(manager.model("dl-tiny.en"))
    _assert_tiny_installed(manager, root)
    assert [r.range for r in mirror.downloads("model.bin")] == ["bytes=12345678-"]


def test_flipped_byte_from_the_server_is_quarantined_and_fetched_again(
    mirror: ModelMirror, root: Path
) -> None:
    mirror.knobs.corrupt["model.bin"] = 1
    manager = make_manager(root, mirror.url)
    events = Events()
    manager.pull(manager.model("dl-tiny.en"), progress=events)
    _assert_tiny_installed(manager, root)
    quarantined = list((root / QUARANTINE_DIR).glob("whisper-dl-tiny.en-download-model.bin*"))
    assert len(quarantined) == 2, quarantined  # the bad copy and why it was kept
    retries = events.named("model_download_retry")
    assert any("did not match" in (e.message or "") for e in retries)
    counts = [e.bytes for e in events]
    assert counts == sorted(counts), "progress went backwards on the fresh copy"


def test_a_mirror_that_always_serves_bad_bytes_installs_nothing(
    mirror: ModelMirror, root: Path
) -> None:
    mirror.knobs.corrupt["model.bin"] = 99
    manager = make_manager(root, mirror.url)
    events = Events()
    with pytest.raises(ModelIntegrityError, match="failed verification twice"):
        manager.pull(manager.model("dl-tiny.en"), progress=events)
    directory = root / "whisper" / "dl-tiny.en"
    assert not (directory / "model.bin").exists()
    assert not (directory / "model.bin.part").exists()
    assert not (directory / COMPLETE).exists()
    assert manager.store.find(manager.model("dl-tiny.en")) is None
    assert events[-1].event == "model_download_failed"


def test_catalog_without_hash_is_verified_against_the_server_etag(
    mirror: ModelMirror, root: Path
) -> None:
    """The amy voice's catalog entry has no SHA-256: the server's published hash decides
    (SHA-256 for the LFS .onnx, git blob SHA-1 for the small .onnx.json)."""
    manager = make_manager(root, mirror.url)
    amy = manager.model("en_US-amy-medium")
    assert all(f.sha256 is None for f in amy.files)
    events = Events()
    result = manager.pull(amy, progress=events)
    assert result.installed.path == root / "piper" / "en_US-amy-medium" / "en_US-amy-medium.onnx"
    marker = read_marker(result.installed.directory)
    assert marker is not None
    assert marker.files["en_US-amy-medium.onnx"].verified_by == "sha256"
    assert marker.files["en_US-amy-medium.onnx.json"].verified_by == "git-sha1"
    # sizes came from the server (HEAD) before the first byte, so the total was known
    assert events.named("model_download_started")[0].total == sum(
        p.stat().st_size for p in result.installed.directory.glob("*.onnx*")
    )
    assert locate_voice("en_US-amy-medium", models_dir=root) == result.installed.path


def test_a_mirror_that_publishes_no_hash_is_refused_for_unhashed_files(
    mirror: ModelMirror, root: Path
) -> None:
    mirror.knobs.no_hash = True
    manager = make_manager(root, mirror.url)
    with pytest.raises(ModelIntegrityError, match="published none"):
        manager.pull(manager.model("en_US-amy-medium"))
    assert manager.store.find(manager.model("en_US-amy-medium")) is None
    # a model whose catalog entry has hashes needs nothing from the server
    manager.pull(manager.model("dl-tiny.en"))
    _assert_tiny_installed(manager, root)


def test_full_disk_is_a_typed_error_before_any_byte(mirror: ModelMirror, root: Path) -> None:
    manager = make_manager(root, mirror.url, free_space=lambda _path: 10_000_000)
    with pytest.raises(DiskFullError, match=r"needs 78\.1 MB") as caught:
        manager.pull(manager.model("dl-tiny.en"))
    assert "\n" not in str(caught.value)
    assert not (root / "whisper" / "dl-tiny.en").exists()
    assert mirror.gets("") == []


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 3 MB tmpfs, so writing really fails with ENOSPC (needs root; skipped otherwise)."""
    mount = tmp_path / "small-disk"
    mount.mkdir()
    binary = shutil.which("mount")
    if binary is None:
        pytest.skip("no mount command")
    proc = subprocess.run(
        [binary, "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mount)],
        capture_output=True,
        check=False,
    )
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {proc.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run([shutil.which("umount") or "umount", str(mount)], check=False)


def test_disk_filling_up_mid_download_leaves_nothing_behind(
    mirror: ModelMirror, tiny_disk: Path
) -> None:
    root = tiny_disk / "models"
    # pretend there is room, so the write itself hits ENOSPC
    manager = make_manager(root, mirror.url, free_space=lambda _path: 10**12)
    with pytest.raises(DiskFullError, match="disk filled up"):
        manager.pull(manager.model("dl-tiny.en"))
    assert not (root / "whisper" / "dl-tiny.en").exists()
    assert shutil.disk_usage(tiny_disk).used < 100_000


def test_offline_start_with_a_warm_cache_touches_no_network(
    mirror: ModelMirror, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_manager(root, mirror.url).pull(download_catalog().require("dl-tiny.en"))
    before = len(mirror.requests)
    connects: list[Any] = []
    real_connect = socket.socket.connect

    def spy(self: socket.socket, address: Any) -> Any:
        connects.append(address)
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", spy)
    provider = ModelProvider.create(
        ModelSettings(dir=str(root), mirror_url=mirror.url, offline=True),
        models_dir=root,
        cache_dir=root.parent / "cache",
        catalog=download_catalog(),
    )
    assert provider.whisper_path("dl-tiny.en") == root / "whisper" / "dl-tiny.en"
    with pytest.raises(ModelOfflineError, match="offline"):
        provider.voice_path("en_US-amy-medium")
    assert connects == []
    assert len(mirror.requests) == before


def test_flipped_byte_on_disk_is_detected_quarantined_and_fetched_again(
    mirror: ModelMirror, root: Path
) -> None:
    manager = make_manager(root, mirror.url)
    model = manager.model("dl-tiny.en")
    manager.pull(model)
    path = root / "whisper" / "dl-tiny.en" / "model.bin"
    with path.open("r+b") as stream:
        stream.seek(1000)
        byte = stream.read(1)
        stream.seek(1000)
        stream.write(bytes([byte[0] ^ 0xFF]))
    report = manager.verify(model)
    assert report is not None
    assert not report.ok
    assert report.problems == [report.problems[0]]
    assert "model.bin" in report.problems[0]
    # what the runtime does before loading: a stat notices the change, the hash confirms it
    installed = manager.ensure(model)
    assert installed.path == root / "whisper" / "dl-tiny.en"
    _assert_tiny_installed(manager, root)
    kept = list((root / QUARANTINE_DIR).glob("whisper-dl-tiny.en-*"))
    assert len(kept) == 1
    assert "failed verification" in (kept[0] / "QUARANTINED.txt").read_text()


def test_model_that_fails_to_load_is_reported_quarantined_and_refetched(
    mirror: ModelMirror, root: Path
) -> None:
    """faster-whisper's 'model.bin is incomplete': a copy placed by hand, truncated."""
    directory = root / "whisper" / "dl-tiny.en"
    directory.mkdir(parents=True)
    for name, source in tiny_files().items():
        shutil.copyfile(source, directory / name)
    data = (directory / "model.bin").read_bytes()
    (directory / "model.bin").write_bytes(data[: len(data) // 2])
    provider = ModelProvider.create(
        ModelSettings(dir=str(root), mirror_url=mirror.url),
        models_dir=root,
        cache_dir=root.parent / "cache",
        catalog=download_catalog(),
    )
    object.__setattr__(provider.manager, "options", FetchOptions(mirror.url, trust_env=False))
    path = provider.whisper_path("dl-tiny.en")
    assert path == directory  # installed by hand: used as it is until it fails
    loads: list[Path] = []

    def load(where: Path) -> WhisperEngine:
        loads.append(where)
        return WhisperEngine.load(where, device="cpu")

    engine = provider.load("whisper", "dl-tiny.en", path, load)
    engine.close()
    assert loads == [directory, directory]
    _assert_tiny_installed(provider.manager, root)
    assert list((root / QUARANTINE_DIR).glob("whisper-dl-tiny.en-*"))


def test_offline_load_failure_quarantines_and_says_why(mirror: ModelMirror, root: Path) -> None:
    directory = root / "whisper" / "dl-tiny.en"
    directory.mkdir(parents=True)
    for name, source in tiny_files().items():
        shutil.copyfile(source, directory / name)
    (directory / "model.bin").write_bytes(b"\0" * 1000)
    provider = ModelProvider.create(
        ModelSettings(dir=str(root), offline=True),
        models_dir=root,
        cache_dir=root.parent / "cache",
        catalog=download_catalog(),
    )
    with pytest.raises(ModelLoadError, match="offline setting forbids fetching it again"):
        provider.load(
            "whisper", "dl-tiny.en", directory, lambda p: WhisperEngine.load(p, device="cpu")
        )
    assert not directory.exists()
    assert mirror.requests == []


def test_downloaded_tiny_en_loads_in_faster_whisper_and_transcribes(
    mirror: ModelMirror, root: Path, speech: SpeechFiles
) -> None:
    from voice_sidecar.audio_files import read_speech

    manager = make_manager(root, mirror.url)
    installed = manager.pull(manager.model("dl-tiny.en")).installed
    engine = WhisperEngine.load(installed.path, name="dl-tiny.en", device="cpu")
    try:
        audio = read_speech(speech("Please turn off the kitchen lights."))
        text = engine.transcribe(audio, language="en", beam_size=1).text
    finally:
        engine.close()
    words = {w.strip(".,").lower() for w in text.split()}
    assert {"kitchen", "lights"} <= words, text


def test_two_part_base_model_downloads_as_one_file(mirror: ModelMirror, root: Path) -> None:
    manager = make_manager(root, mirror.url)
    result = manager.pull(manager.model("dl-base"))
    assert (result.installed.path / "model.bin").stat().st_size == 145_217_532
    report = manager.verify(manager.model("dl-base"))
    assert report is not None
    assert report.ok
    assert report.against == "marker"


def test_http_errors_name_the_host_and_never_the_url_path(root: Path) -> None:
    with ModelMirror() as empty:
        manager = make_manager(root, empty.url + "/secret-token-path")
        with pytest.raises(Exception, match="HTTP 404") as caught:
            manager.pull(manager.model("en_US-amy-medium"))
    assert "secret-token-path" not in str(caught.value)
    assert "127.0.0.1" in str(caught.value)


class _ForwardProxy:
    """An HTTP forward proxy on 127.0.0.1 that sends every request to one upstream."""

    def __init__(self, upstream: str) -> None:
        target = urlsplit(upstream)
        self.seen: list[str] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def _forward(self) -> None:
                proxy.seen.append(self.path)
                url = urlsplit(self.path)
                conn = http.client.HTTPConnection(target.hostname or "", target.port, timeout=10)
                headers = {k: v for k, v in self.headers.items() if k.lower() != "proxy-connection"}
                conn.request(self.command, url.path, headers=headers)
                response = conn.getresponse()
                self.send_response(response.status)
                for key, value in response.getheaders():
                    if key.lower() not in ("connection", "transfer-encoding"):
                        self.send_header(key, value)
                self.end_headers()
                if self.command != "HEAD":
                    while block := response.read(256 * 1024):
                        self.wfile.write(block)
                conn.close()

            do_GET = _forward  # noqa: N815
            do_HEAD = _forward  # noqa: N815

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_system_proxy_settings_are_honoured(
    mirror: ModelMirror, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy = _ForwardProxy(mirror.url)
    try:
        for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy", "HTTPS_PROXY"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        monkeypatch.setenv("http_proxy", proxy.url)
        # a host name that only the proxy can reach
        store = ModelStore(root, catalog=download_catalog(), cache_dir=root.parent / "cache")
        settings = ModelSettings(mirror_url="http://models-mirror.invalid")
        manager = ModelManager(
            store, settings, options=FetchOptions("http://models-mirror.invalid", backoff_s=0.01)
        )
        manager.pull(manager.model("en_US-amy-medium"))
    finally:
        proxy.stop()
    assert any(p.startswith("http://models-mirror.invalid/rhasspy/") for p in proxy.seen)
    assert manager.store.find(manager.model("en_US-amy-medium")) is not None


def test_models_beside_a_frozen_executable_count_as_installed(tmp_path: Path) -> None:
    from voice_sidecar.paths import bundled_models_dir

    app = tmp_path / "app"
    (app / "models" / "whisper").mkdir(parents=True)
    shutil.copytree(tiny_files()["model.bin"].parent, app / "models" / "whisper" / "dl-tiny.en")
    executable = str(app / "voice-sidecar")
    assert bundled_models_dir(frozen=False, executable=executable) is None
    bundled = bundled_models_dir(frozen=True, executable=executable)
    assert bundled == app / "models"
    found = locate_whisper(
        "dl-tiny.en", models_dir=tmp_path / "models", cache_dir=tmp_path, bundled_dir=bundled
    )
    assert found == app / "models" / "whisper" / "dl-tiny.en"
    store = ModelStore(
        tmp_path / "models", catalog=download_catalog(), cache_dir=tmp_path, bundled_dir=bundled
    )
    installed = store.find(store.catalog.require("dl-tiny.en"))
    assert installed is not None
    assert (installed.source, installed.managed) == ("bundled", False)


def test_auto_model_follows_the_hardware_decision(tmp_path: Path) -> None:
    from voice_sidecar.plugins.device import HardwareFacts
    from voice_sidecar.runtime import hardware_decision
    from voice_sidecar.settings import Settings, SttSettings

    provider = ModelProvider.create(ModelSettings(), models_dir=tmp_path, cache_dir=tmp_path)
    settings = Settings(stt=SttSettings(model="auto"))
    decision = hardware_decision(settings, HardwareFacts(cpu_count=2), provider.catalog)
    assert (decision.device, decision.model) == ("cpu", "tiny.en")
    pinned = hardware_decision(
        Settings(stt=SttSettings(model="base")), HardwareFacts(), provider.catalog
    )
    assert pinned.model == "base"
