#!/usr/bin/env bash
# The test command (README.md and CI run exactly this). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/python -m pytest -ra "$@"
