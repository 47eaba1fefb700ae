#!/usr/bin/env bash
# Fetch the recordings of real speech that the benchmark and tests play (a pocketsphinx source
# distribution from the package index, hash-checked, cached per user outside the clone), and
# beside them the recordings of coughs, laughs and "mm"s (Debian's hedgewars-data, fetched with
# apt-get download, hash-checked); prints the speech's folder. Needs .venv (scripts/setup-dev.sh)
# and apt's package lists (apt-get update). Extra argument: another cache folder.
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/python -m voice_sidecar.bench.real_speech "$@"
