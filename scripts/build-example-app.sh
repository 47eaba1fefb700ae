#!/usr/bin/env bash
# Builds desktop-integration/example-app for this machine, the way a desktop app adopts the kit:
# the frozen sidecar and livekit-server into src-tauri/binaries and src-tauri/resources, the
# kit's package, then the Tauri app. Prints the path of the app's executable (last line).
#
#   scripts/build-example-app.sh [--release]
#
# LIVEKIT_SERVER_BIN names the livekit-server binary to bundle; without it the binary comes
# from scripts/build-livekit-server.sh. The Rust build goes to EXAMPLE_APP_TARGET_DIR
# (default ~/.cache/private-assistant-ci/example-app-target), outside the clone, so that a
# rebuild in a fresh clone only compiles the app itself. A frozen build in dist/tauri made
# from the current sources with the same livekit-server is reused.
set -euo pipefail
cd "$(dirname "$0")/.."

profile=debug
case "${1:-}" in
    "") ;;
    --release) profile=release ;;
    *) echo "usage: $0 [--release]" >&2; exit 2 ;;
esac

APP=desktop-integration/example-app
TAURI_DIR=dist/tauri
PYTHON=.venv/bin/python
export CARGO_TARGET_DIR="${EXAMPLE_APP_TARGET_DIR:-$HOME/.cache/private-assistant-ci/example-app-target}"

say() { echo "== example app: $*" >&2; }
fail() { echo "build-example-app: error: $*" >&2; exit 1; }

[ -x "$PYTHON" ] || fail "no .venv here: run scripts/setup-dev.sh first"
command -v cargo >/dev/null || fail "cargo was not found: install Rust with rustup (the app pins its toolchain in $APP/src-tauri/rust-toolchain.toml)"
command -v npm >/dev/null || fail "npm was not found: install Node.js 20 or later"

# -- livekit-server ---------------------------------------------------------------------------
livekit="${LIVEKIT_SERVER_BIN:-}"
if [ -z "$livekit" ]; then
    [ -x scripts/build-livekit-server.sh ] ||
        fail "set LIVEKIT_SERVER_BIN to a livekit-server binary (scripts/build-livekit-server.sh is not here)"
    say "livekit-server (scripts/build-livekit-server.sh)"
    livekit="$(scripts/build-livekit-server.sh | tail -n 1)"
fi
[ -f "$livekit" ] || fail "livekit-server binary $livekit is not a file"

# -- the frozen sidecar -----------------------------------------------------------------------
sidecar_name="$("$PYTHON" -c 'from installers.targets import build_host; print(build_host().sidecar_name("voice-sidecar"))')"
livekit_name="${sidecar_name/voice-sidecar/livekit-server}"
current="$("$PYTHON" - "$TAURI_DIR" <<'EOF'
import json, sys
from pathlib import Path
from installers.build import source_digest
try:
    report = json.loads((Path(sys.argv[1]) / "build-report.json").read_text(encoding="utf-8"))
except (OSError, ValueError):
    report = {}
print("yes" if report.get("source_digest") == source_digest() and report.get("mode") == "onedir" else "no")
EOF
)"
if [ "$current" = yes ] && cmp -s "$livekit" "$TAURI_DIR/binaries/$livekit_name"; then
    say "frozen sidecar in $TAURI_DIR is current: reused"
else
    say "frozen sidecar (python -m installers.build)"
    "$PYTHON" -m installers.build --tauri-dir "$TAURI_DIR" --livekit-bin "$livekit" >&2
fi

# README step 1: the binaries (and the one-dir bundle, a resource) inside src-tauri/
rm -rf "$APP/src-tauri/binaries" "$APP/src-tauri/resources"
cp -a "$TAURI_DIR/binaries" "$TAURI_DIR/resources" "$APP/src-tauri/"

# -- the kit's package, then the app ----------------------------------------------------------
say "the kit's package (npm run build)"
(
    cd desktop-integration
    [ -d node_modules ] || npm ci --no-audit --no-fund >&2
    npm run --silent build >&2
)
say "the app ($profile; Rust target dir $CARGO_TARGET_DIR)"
(
    cd "$APP"
    npm ci --no-audit --no-fund >&2
    flags=(--no-bundle --ci)
    [ "$profile" = debug ] && flags+=(--debug)
    npx --no-install tauri build "${flags[@]}" >&2
)

exe="$CARGO_TARGET_DIR/$profile/voice-example-app"
[ -x "$exe" ] || exe="$exe.exe"
[ -x "$exe" ] || fail "the build finished but $exe is not there"
echo "$exe"
