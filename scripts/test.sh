#!/usr/bin/env bash
# Install ctoops with its test tools into .venv, install the real OpenClaw gateway
# for the integration suite into .gw/ (Node 24 + openclaw 2026.9.6 and 2026.7.1,
# from npm; skipped when CTOOPS_OPENCLAW_DIR already names an install), lint, and
# run the whole suite. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q -e '.[dev]'
if [ -z "${CTOOPS_OPENCLAW_DIR:-}" ]; then
  if bash scripts/install-openclaw.sh .gw; then
    export CTOOPS_OPENCLAW_DIR="$PWD/.gw"
  else
    echo "test.sh: could not install the OpenClaw gateway from npm;" \
         "the integration tests will be skipped, each saying why" >&2
  fi
fi
.venv/bin/ruff check ctoops tests benchmarks scripts
exec .venv/bin/python -m pytest --durations=25 "$@"
