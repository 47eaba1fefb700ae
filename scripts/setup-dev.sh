#!/usr/bin/env bash
# Create or refresh .venv from the lock file: the one set-up command for developers and CI.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
UV_VERSION="0.13.9"
# what scripts/start-voice.sh and start-voice.ps1 compare with the lock file: a .venv set up
# here is up to date for them too
STAMP=".venv/.start-voice-stamp"

# first, before anything is created: an older Python would end in a resolver error and leave
# a half-built .venv behind
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "setup-dev: Python 3.11 or newer is needed; install it, or set PYTHON to one" >&2
    exit 2
fi

if [ ! -d .venv ]; then
    "$PYTHON" -m venv .venv
fi
# a Windows venv (Git Bash on a release runner) keeps its programs in Scripts/
BIN=.venv/bin
if [ -d .venv/Scripts ]; then
    BIN=.venv/Scripts
fi
"$BIN/python" -m pip install --quiet --disable-pip-version-check "uv==${UV_VERSION}"
# hash-checked install of exactly what the lock file names
"$BIN/uv" pip install --quiet --python "$BIN/python" --require-hashes -r requirements.lock
"$BIN/uv" pip install --quiet --python "$BIN/python" --no-deps -e .
touch "$STAMP"
echo "ready: .venv ($("$BIN/voice-sidecar" --version))"
