#!/usr/bin/env bash
# Create or refresh .venv from the lock file: the one set-up command for developers and CI.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
UV_VERSION="0.13.9"

if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check "uv==${UV_VERSION}"
# hash-checked install of exactly what the lock file names
.venv/bin/uv pip install --quiet --python .venv/bin/python --require-hashes -r requirements.lock
.venv/bin/uv pip install --quiet --python .venv/bin/python --no-deps -e .
echo "ready: .venv ($(.venv/bin/voice-sidecar --version))"
