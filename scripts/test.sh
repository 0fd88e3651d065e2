#!/usr/bin/env bash
# Install ctoops with its test tools into .venv and run the whole suite (lint too).
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q -e '.[dev]'
.venv/bin/ruff check ctoops tests benchmarks
exec .venv/bin/python -m pytest --durations=15 "$@"
