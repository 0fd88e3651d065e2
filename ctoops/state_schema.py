"""The orchestration state file's schema and migrations (R27): pure and cheap.

Apart from state.py (transactions, the lock, quarantine, the audit) because
`gate`, which sits in front of every spawn, only needs to parse the file: it must
not load the audit and guardrail code to do so. state.py re-exports these names.
"""

from __future__ import annotations

import json
from typing import Any

from ctoops.errors import StateUnavailable

SCHEMA_VERSION = 1


def empty_state() -> dict[str, Any]:
    return {
        "schema_version": SCHEMA_VERSION,
        "latest_ts": 0.0,  # the latest time recorded: the clock never goes below it
        "history": [],  # admitted actions (guardrail windows count these)
        "intents": {},  # in-flight slow actions: id -> intent
        "approvals": {},  # held actions: id -> record (pending/approved/denied)
        "flags": {},  # resource_pressure, spawn_block, ...: name -> {since, reason, ...}
        "freezes": {},  # chain freezes: scope -> {since, until, reason, ...}
        "safe_mode": None,  # {since, reason, quarantined} when the state was lost
        "review_events": [],  # R11, R21: what a person should look at next
        "decisions": [],  # R27: the trail, newest last (bounded; the audit log has all)
        "alerts": {},  # notification dedup: key -> {first_ts, last_sent_ts, active}
        "commands": {},  # per-command memory: samples, cursors, hysteresis counters
    }


def _migrate(data: dict[str, Any]) -> dict[str, Any]:
    """Bring an older or partial state up to SCHEMA_VERSION (missing keys filled)."""
    version = data.get("schema_version", 0)
    if not isinstance(version, int):
        raise ValueError("schema_version is not an integer")
    if version > SCHEMA_VERSION:
        raise StateUnavailable(
            f"the state was written by a newer ctoops (schema {version}, this one knows "
            f"{SCHEMA_VERSION}); refusing to touch it: upgrade ctoops")
    base = empty_state()
    for key, default in base.items():
        value = data.get(key, default)
        if default is not None and not isinstance(value, type(default)):
            if isinstance(default, float) and isinstance(value, int):
                value = float(value)
            else:
                raise ValueError(f"key {key!r} has the wrong type ({type(value).__name__})")
        base[key] = value
    base["schema_version"] = SCHEMA_VERSION
    _check_shapes(base)
    return base


def _check_shapes(state: dict[str, Any]) -> None:
    """Reject a state whose inner records are not what the guardrails read: a
    wrong-typed history must quarantine the file, not crash a decision later."""
    for key in ("history", "review_events", "decisions"):
        if not all(isinstance(item, dict) for item in state[key]):
            raise ValueError(f"{key!r} holds a non-object entry")
    for key in ("intents", "approvals", "flags", "freezes", "alerts", "commands"):
        if not all(isinstance(item, dict) for item in state[key].values()):
            raise ValueError(f"{key!r} holds a non-object entry")
    for event in state["history"]:
        if not isinstance(event.get("ts"), (int, float)) or isinstance(event.get("ts"), bool):
            raise ValueError("a history entry has no numeric 'ts'")
        for field_name in ("action", "subsystem", "risk"):
            if not isinstance(event.get(field_name), str):
                raise ValueError(f"a history entry has no string {field_name!r}")
    for approval in state["approvals"].values():
        if approval.get("status") not in ("pending", "approved", "denied"):
            raise ValueError("an approval has an unknown status")
    if state["safe_mode"] is not None and not isinstance(state["safe_mode"], dict):
        raise ValueError("'safe_mode' is neither null nor an object")


def parse_state(raw: bytes) -> dict[str, Any]:
    """Parse and migrate; ValueError when the bytes are not a usable state."""
    data = json.loads(raw)
    if not isinstance(data, dict):
        raise ValueError("the top level is not an object")
    return _migrate(data)
