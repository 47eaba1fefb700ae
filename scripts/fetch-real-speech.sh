#!/usr/bin/env bash
# Fetch the recordings of real speech that the benchmark and tests play (a pocketsphinx source
# distribution from the package index, hash-checked, cached per user outside the clone); prints
# the folder. Needs .venv (scripts/setup-dev.sh). Extra argument: another cache folder.
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/python -m voice_sidecar.bench.real_speech "$@"
