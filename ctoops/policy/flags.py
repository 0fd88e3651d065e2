"""Reading the flags and freezes other tools gate on (R9, R20), as pure functions.

Shared by `gate` (which must stay cheap), `status` and the commands that set them.
"""

from __future__ import annotations

from typing import Any


def active(record: dict[str, Any] | None, now: float) -> bool:
    """A flag or freeze is active while it exists and its `until` (if any) is ahead."""
    if not record:
        return False
    until = record.get("until")
    return until is None or float(until) > now


def spawn_blockers(state: dict[str, Any], now: float) -> list[tuple[str, dict[str, Any]]]:
    """Why new risky spawns are blocked, if they are (R9)."""
    out = [(name, rec) for name, rec in state.get("flags", {}).items()
           if rec.get("blocks_spawn") and active(rec, now)]
    if state.get("safe_mode"):
        out.append(("safe_mode", state["safe_mode"]))
    return out


def chain_blockers(state: dict[str, Any], now: float, job: str | None
                   ) -> list[tuple[str, dict[str, Any]]]:
    """Why chained execution is frozen for `job` (or globally), if it is (R20)."""
    out = []
    for scope, rec in state.get("freezes", {}).items():
        if not active(rec, now):
            continue
        if scope == "global" or (job is not None and scope == f"job:{job}"):
            out.append((scope, rec))
    if state.get("safe_mode"):
        out.append(("safe_mode", state["safe_mode"]))
    return out
