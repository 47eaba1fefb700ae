#!/usr/bin/env bash
# Create or refresh .venv from the lock file: the one set-up command for developers and CI.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
UV_VERSION="0.13.9"

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
echo "ready: .venv ($("$BIN/voice-sidecar" --version))"
