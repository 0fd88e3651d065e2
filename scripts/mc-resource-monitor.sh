#!/usr/bin/env bash
# mc-resource-monitor: the runbook's P1b hook (R12).
#
# Runs the gateway part of `ctoops check resources` (the gateway cgroup against its
# high watermark, debounced in the workspace state) and, when that check wants a
# restart, runs `scripts/gateway-safe-restart.sh --auto --reason "<numbers>"`.
# Exit: the check's Nagios code (0/1/2, 3 when ctoops could not judge), or the safe
# restart's code when one was asked for (0 done, 75 refused, 77 held, 1 failed).
#
# Environment: CTOOPS_ROOT (the workspace; default: this script's parent folder
# when it holds config/ctoops.yaml), CTOOPS_PYTHON (the python3 that reads the JSON).
# Nothing from the environment or the check's output is ever evaluated by the shell.
set -uo pipefail

here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
if [ -z "${CTOOPS_ROOT:-}" ] && [ -f "$here/../config/ctoops.yaml" ]; then
  CTOOPS_ROOT=$(cd -- "$here/.." && pwd)
fi
if [ -n "${CTOOPS_ROOT:-}" ]; then
  export CTOOPS_ROOT
fi

report=$(ctoops --json check resources --gateway-only --no-restart)
rc=$?
if [ "$rc" -ne 0 ] && [ "$rc" -ne 1 ] && [ "$rc" -ne 2 ]; then
  echo "mc-resource-monitor: ctoops check resources failed (exit $rc); nothing done" >&2
  exit 3
fi

# The restart reason, or nothing: read from the JSON document by a fixed program.
reason=$(printf '%s' "$report" | "${CTOOPS_PYTHON:-python3}" -c '
import json, sys
restart = (json.load(sys.stdin).get("gateway") or {}).get("restart") or {}
if restart.get("wanted") and restart.get("reason"):
    sys.stdout.write(" ".join(str(restart["reason"]).split()))
') || { echo "mc-resource-monitor: could not read the check's JSON; nothing done" >&2; exit 3; }

if [ -z "$reason" ]; then
  printf '%s\n' "$report" | "${CTOOPS_PYTHON:-python3}" -c '
import json, sys
doc = json.load(sys.stdin)
print("mc-resource-monitor:", doc.get("status"), "-", doc.get("summary"))
'
  exit "$rc"
fi

echo "mc-resource-monitor: gateway memory above its high watermark ratio; asking for a safe restart" >&2
exec "$here/gateway-safe-restart.sh" --auto --reason "$reason"
