#!/usr/bin/env bash
# Builds desktop-integration/example-app for this machine, the way a desktop app adopts the kit:
# the frozen sidecar and livekit-server into src-tauri/binaries and src-tauri/resources, the
# kit's package, then the Tauri app. Prints the path of the app's executable (last line).
#
#   scripts/build-example-app.sh [--release] [--bundle]
#
# --release builds optimised (default: a debug build, what the tests drive); --bundle also
# makes the platform's installers (Tauri's bundler; the Windows ones download their tools).
# LIVEKIT_SERVER_BIN names the livekit-server binary to bundle; without it the binary comes
# from scripts/build-livekit-server.sh. A frozen build in dist/tauri made from the current
# sources with the same livekit-server is reused; EXAMPLE_APP_FROZEN_DIR names a finished
# installers.build layout (binaries/ and resources/, e.g. a release job's archive) to take
# instead. The Rust build goes to EXAMPLE_APP_TARGET_DIR (default
# ~/.cache/private-assistant-ci/example-app-target), outside the clone, so that a rebuild
# in a fresh clone only compiles the app itself.
set -euo pipefail
cd "$(dirname "$0")/.."

profile=debug
bundle=no
for arg in "$@"; do
    case "$arg" in
        --release) profile=release ;;
        --bundle) bundle=yes ;;
        *) echo "usage: $0 [--release] [--bundle]" >&2; exit 2 ;;
    esac
done

APP=desktop-integration/example-app
PYTHON=.venv/bin/python
export CARGO_TARGET_DIR="${EXAMPLE_APP_TARGET_DIR:-$HOME/.cache/private-assistant-ci/example-app-target}"

say() { echo "== example app: $*" >&2; }
fail() { echo "build-example-app: error: $*" >&2; exit 1; }

command -v cargo >/dev/null || fail "cargo was not found: install Rust with rustup (the app pins its toolchain in $APP/src-tauri/rust-toolchain.toml)"
command -v npm >/dev/null || fail "npm was not found: install Node.js 20 or later"

livekit_binary() {
    local livekit="${LIVEKIT_SERVER_BIN:-}"
    if [ -z "$livekit" ]; then
        [ -x scripts/build-livekit-server.sh ] ||
            fail "set LIVEKIT_SERVER_BIN to a livekit-server binary (scripts/build-livekit-server.sh is not here)"
        say "livekit-server (scripts/build-livekit-server.sh)"
        livekit="$(scripts/build-livekit-server.sh | tail -n 1)"
    fi
    [ -f "$livekit" ] || fail "livekit-server binary $livekit is not a file"
    echo "$livekit"
}

# Prints the installers.build layout to bundle: dist/tauri, built unless it is current.
frozen_build() {
    local tauri_dir=dist/tauri livekit sidecar_name current
    [ -x "$PYTHON" ] || fail "no .venv here: run scripts/setup-dev.sh first"
    livekit="$(livekit_binary)"
    sidecar_name="$("$PYTHON" -c 'from installers.targets import build_host; print(build_host().sidecar_name("voice-sidecar"))')"
    current="$("$PYTHON" - "$tauri_dir" <<'EOF'
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
    if [ "$current" = yes ] && cmp -s "$livekit" "$tauri_dir/binaries/${sidecar_name/voice-sidecar/livekit-server}"; then
        say "frozen sidecar in $tauri_dir is current: reused"
    else
        say "frozen sidecar (python -m installers.build)"
        "$PYTHON" -m installers.build --tauri-dir "$tauri_dir" --livekit-bin "$livekit" >&2
    fi
    echo "$tauri_dir"
}

if [ -n "${EXAMPLE_APP_FROZEN_DIR:-}" ]; then
    frozen="$EXAMPLE_APP_FROZEN_DIR"
    say "frozen sidecar and livekit-server from $frozen"
else
    frozen="$(frozen_build)"
fi
if [ ! -d "$frozen/binaries" ] || [ ! -d "$frozen/resources" ]; then
    fail "$frozen holds no binaries/ and resources/ (python -m installers.build lays them out)"
fi

# README step 1: the binaries (and the one-dir bundle, a resource) inside src-tauri/
rm -rf "$APP/src-tauri/binaries" "$APP/src-tauri/resources"
cp -a "$frozen/binaries" "$frozen/resources" "$APP/src-tauri/"

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
    flags=(--ci)
    [ "$bundle" = no ] && flags+=(--no-bundle)
    [ "$profile" = debug ] && flags+=(--debug)
    npx --no-install tauri build "${flags[@]}" >&2
)

exe="$CARGO_TARGET_DIR/$profile/voice-example-app"
[ -x "$exe" ] || exe="$exe.exe"
[ -x "$exe" ] || fail "the build finished but $exe is not there"
echo "$exe"
