#!/usr/bin/env bash
# Installs tauri-driver (the WebDriver server for Tauri apps) at a pinned version from
# crates.io, cached outside the clone; prints the path of the binary (last line).
# tests/example_app_support.py looks for it there.
set -euo pipefail

VERSION="2.1.0"
ROOT_DIR="$HOME/.cache/private-assistant-ci/tauri-driver-$VERSION"
BIN="$ROOT_DIR/bin/tauri-driver"

if [ ! -x "$BIN" ]; then
    command -v cargo >/dev/null || { echo "install-tauri-driver: error: cargo was not found: install Rust with rustup" >&2; exit 1; }
    echo "== tauri-driver $VERSION (cargo install)" >&2
    cargo install tauri-driver --version "$VERSION" --locked --root "$ROOT_DIR" >&2
fi
echo "$BIN"
