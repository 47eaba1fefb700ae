#!/usr/bin/env bash
# Build livekit-server at the version the product pins, from the Go module proxy, and print
# the binary's path. For developers and CI on machines that reach the Go module proxy but not
# LiveKit's release downloads; users get the official release binary (voice-sidecar fetch-livekit).
#
#   LIVEKIT_SERVER_BIN=$(scripts/build-livekit-server.sh)
#
# The result is cached per user and version (a second run is instant); Go's own module and
# build caches make a rebuild of another version quicker. Needs Go 1.23+ and Python 3.11+.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-}"
if [ -z "$PYTHON" ]; then
    if [ -x .venv/bin/python ]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
# the module uses the standard library alone, so it runs without .venv too
PYTHONPATH="$PWD/sidecar${PYTHONPATH:+:$PYTHONPATH}" exec "$PYTHON" \
    -m voice_sidecar.livekit_server.source_build "$@"
