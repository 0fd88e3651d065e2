#!/usr/bin/env bash
# gateway-safe-restart.sh [--auto] [--reason "..."]: the ONLY sanctioned way to
# restart the OpenClaw gateway (R7, R12, R15). A thin wrapper: it execs ctoops's
# guarded `safe-restart` (budget, kill-switch, prune, cleanup, notice, restart,
# confirmation, lesson) with the same arguments. Never replace it with
# `systemctl restart|stop openclaw-gateway` or `kill -USR1`: see
# docs/never-restart-directly.md.
#
# The workspace is CTOOPS_ROOT when set (else ctoops finds it). --dry-run, --json
# --verbose, --root and --config may be given here too; they are moved before the subcommand,
# where ctoops expects them. The installed `ctoops` is used when it is on PATH,
# else `python3 -m ctoops` (from the checkout this script lives in, if it is one).
set -euo pipefail

globals=()
args=()
while [ "$#" -gt 0 ]; do
  case "$1" in
    --dry-run|--json|--verbose) globals+=("$1") ;;
    --root|--config)            # global options with a value: before the subcommand
      globals+=("$1")
      if [ "$#" -gt 1 ]; then globals+=("$2"); shift; fi ;;
    --reason)                   # pass the value verbatim, whatever it contains
      args+=("$1")
      if [ "$#" -gt 1 ]; then args+=("$2"); shift; fi ;;
    *) args+=("$1") ;;
  esac
  shift
done

if command -v ctoops >/dev/null 2>&1; then
  exec ctoops ${globals[@]+"${globals[@]}"} safe-restart ${args[@]+"${args[@]}"}
fi
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ -f "$here/ctoops/__init__.py" ]; then
  export PYTHONPATH="$here${PYTHONPATH:+:$PYTHONPATH}"
fi
exec python3 -m ctoops ${globals[@]+"${globals[@]}"} safe-restart ${args[@]+"${args[@]}"}
