#!/usr/bin/env bash
# The runbook's only way to restart the OpenClaw gateway (R7, R13, R15): a thin
# wrapper over `ctoops safe-restart`, which checks the guardrails, prunes, notifies,
# restarts through gateway.restart_command and records everything.
# Usage: gateway-safe-restart.sh [--auto] --reason "why"   (CTOOPS_ROOT picks the workspace)
exec ctoops safe-restart "$@"
