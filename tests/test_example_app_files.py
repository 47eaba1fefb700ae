"""desktop-integration/example-app holds the kit's files as its README tells an app to copy
them: byte for byte, so that what the driven tests (test_example_app.py) prove is about the
files the kit ships, and a change to one that is not copied fails here, on any machine."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

from .example_app_support import IDENTIFIER, WINDOW_TITLE

KIT = Path(__file__).resolve().parent.parent / "desktop-integration"
APP = KIT / "example-app"
SRC_TAURI = APP / "src-tauri"

COPIES = {
    "tauri/rust/voice.rs": "src/voice.rs",
    "tauri/sqlite/voice_messages.sql": "sqlite/voice_messages.sql",
    "tauri/Info.plist": "Info.plist",
    "tauri/Entitlements.plist": "Entitlements.plist",
}


def _json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize(("kit", "app"), COPIES.items())
def test_the_app_holds_an_unchanged_copy(kit: str, app: str) -> None:
    assert (SRC_TAURI / app).read_bytes() == (KIT / kit).read_bytes(), (
        f"copy desktop-integration/{kit} to example-app/src-tauri/{app} again"
    )


def test_the_config_fragment_is_merged_unchanged() -> None:
    fragment = _json(KIT / "tauri" / "tauri.conf.fragment.json")
    conf = _json(SRC_TAURI / "tauri.conf.json")
    for key, value in fragment["bundle"].items():
        assert conf["bundle"][key] == value, f"bundle.{key}"
    assert conf["app"]["security"]["csp"] == fragment["app"]["security"]["csp"]


def test_the_tests_know_the_window_and_the_identifier() -> None:
    conf = _json(SRC_TAURI / "tauri.conf.json")
    (window,) = conf["app"]["windows"]
    # the capability grants the window labelled main; the tests close it by its title
    assert window["label"] == "main"
    assert window["title"] == WINDOW_TITLE
    assert conf["identifier"] == IDENTIFIER


def test_the_window_may_be_destroyed_after_the_sidecar_stopped() -> None:
    """stopSidecarOnExit calls window.destroy(), which core:default does not allow."""
    default = _json(SRC_TAURI / "capabilities" / "default.json")
    assert "core:window:allow-destroy" in default["permissions"]


def test_the_page_is_granted_nothing_of_the_shell() -> None:
    """The Rust side starts the sidecar; a shell permission would let the page start it (or
    anything in the scope) with an environment of its choosing."""
    capabilities = sorted((SRC_TAURI / "capabilities").glob("*.json"))
    assert [c.name for c in capabilities] == ["default.json"]
    for capability in capabilities:
        permissions = _json(capability)["permissions"]
        named = [p if isinstance(p, str) else p["identifier"] for p in permissions]
        assert not [n for n in named if n.startswith("shell:")], capability.name


def _minor(version: str) -> str:
    match = re.match(r"\D*(\d+)\.(\d+)", version)
    assert match, version
    return f"{match[1]}.{match[2]}"


def test_rust_and_npm_tauri_packages_share_their_minor_versions() -> None:
    """`tauri build` refuses to build when a Tauri crate and its npm package differ in minor
    version (crates.io had tauri-plugin-shell 2.6 while npm's latest was 2.4). The page
    needs no shell JavaScript, so the app has only `@tauri-apps/api` to match."""
    lock = tomllib.loads((SRC_TAURI / "Cargo.lock").read_text(encoding="utf-8"))
    crates = {p["name"]: p["version"] for p in lock["package"]}
    npm = _json(APP / "package-lock.json")["packages"]
    pairs = {"tauri": "@tauri-apps/api"}
    assert "node_modules/@tauri-apps/plugin-shell" not in npm
    for crate, package in pairs.items():
        assert _minor(crates[crate]) == _minor(npm[f"node_modules/{package}"]["version"]), crate


def test_the_kit_is_a_file_dependency_and_react_is_deduplicated() -> None:
    package = _json(APP / "package.json")
    assert package["dependencies"]["@private-assistant/voice-desktop"] == "file:.."
    vite = (APP / "vite.config.ts").read_text(encoding="utf-8")
    # the kit's own node_modules has React too: one copy of each in the bundle
    assert re.search(r'dedupe: \[[^\]]*"react"[^\]]*"react-dom"', vite)
