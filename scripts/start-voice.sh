#!/usr/bin/env bash
# Start the whole voice backend from a fresh clone (Linux, macOS): one command.
#
#   scripts/start-voice.sh [voice-sidecar start options]
#   scripts/start-voice.sh --stt-device cpu --stt-model tiny.en --persona persona.json
#
# Every option goes to 'voice-sidecar start' unchanged (its --help lists them); all the logic
# (the Nebius key prompt, fetching livekit-server, the readable output, stopping on Ctrl+C)
# lives there, tested in Python. scripts/start-voice.ps1 is the same, step for step, on
# Windows: a change here is a change there (tests/test_start_scripts.py compares the steps).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
STAMP=".venv/.start-voice-stamp"

# step 1: is .venv missing, or older than requirements.lock or pyproject.toml?
SETUP=0
if [ ! -x .venv/bin/voice-sidecar ] || [ ! -f "$STAMP" ] \
    || [ requirements.lock -nt "$STAMP" ] || [ pyproject.toml -nt "$STAMP" ]; then
    SETUP=1
fi

# step 2: if so, create or refresh it from requirements.lock (Python 3.11 or newer)
if [ "$SETUP" = 1 ]; then
    if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
        echo "start-voice: Python 3.11 or newer is needed; install it, or set PYTHON to one" >&2
        exit 2
    fi
    PYTHON="$PYTHON" scripts/setup-dev.sh
    touch "$STAMP"
fi

# step 3: the key, livekit-server, then the stack in the foreground (Ctrl+C stops everything)
exec .venv/bin/voice-sidecar start "$@"
