#!/usr/bin/env bash
# Regenerate requirements.lock after changing dependencies in pyproject.toml.
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/uv pip compile pyproject.toml --extra dev --extra bundled-models --extra packaging \
    --universal --python-version 3.11 --generate-hashes --no-header -o requirements.lock
