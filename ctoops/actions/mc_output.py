"""mc-output (R6): the JSON-lines file mission control and people read.

Two kinds of record land here: notices (as the local fallback channel) and the
asynchronous confirmations of medium-risk actions. R6 allows a medium action to
run automatically *with an asynchronous confirmation*: the action writes what it
did at once (`confirm_action`), and a later run, once the effect is known (the
memory came down, the stall cleared), appends the outcome (`confirm_outcome`).
`awaiting_outcome` lists the actions still waiting for theirs.

Every line is scrubbed of secrets and written with one write() on an O_APPEND
descriptor, so concurrent runs never interleave inside a line.
"""

from __future__ import annotations

import json
import os
import socket
from typing import TYPE_CHECKING, Any

from ctoops.audit import iso
from ctoops.redaction import scrub_obj
from ctoops.workspace import append_record, make_dirs

if TYPE_CHECKING:
    from pathlib import Path

    from ctoops.context import Context

TAIL_BYTES = 4 << 20  # awaiting_outcome reads at most this much of the file's end


def mc_output_path(ctx: Context) -> Path:
    return ctx.workspace.path(ctx.config.notify.mc_output)


def write_mc_output(ctx: Context, record: dict[str, Any]) -> None:
    """Append one JSON line to mc-output (R6): confirmations other tools read."""
    path = mc_output_path(ctx)
    make_dirs(path.parent)
    # Scrub the values, not the serialised line: a pattern cut inside a JSON string
    # (a secret followed by an escaped quote) would break the line for readers.
    line = json.dumps(scrub_obj(record), ensure_ascii=False, default=str)
    append_record(path, (line + "\n").encode("utf-8"))


def confirm_action(ctx: Context, action_id: str, action: str, subsystem: str, done: str,
                   outcome: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    """R6: a medium action's confirmation, written as soon as it acted: which action
    (`action_id`, e.g. the guarded event id), what was done, the outcome so far
    (`done`, `failed`, `pending`: effect not known yet), and when. With --dry-run
    nothing is written; the record is returned either way."""
    now = ctx.clock.now()
    record = {"type": "confirmation", "phase": "action", "action_id": action_id,
              "action": action, "subsystem": subsystem, "done": done, "outcome": outcome,
              "ts": now, "at": iso(now), "host": socket.gethostname(), "pid": os.getpid(),
              "details": details or {}}
    if ctx.dry_run:
        return {**record, "dry_run": True}
    write_mc_output(ctx, record)
    return record


def confirm_outcome(ctx: Context, action_id: str, outcome: str, effect: str,
                    details: dict[str, Any] | None = None) -> dict[str, Any]:
    """R6: the later confirmation of the same action, once its effect is known
    (`outcome`: confirmed / not_confirmed / failed; `effect` in words)."""
    now = ctx.clock.now()
    record = {"type": "confirmation", "phase": "outcome", "action_id": action_id,
              "outcome": outcome, "effect": effect, "ts": now, "at": iso(now),
              "host": socket.gethostname(), "details": details or {}}
    if ctx.dry_run:
        return {**record, "dry_run": True}
    write_mc_output(ctx, record)
    return record


def read_records(path: Path, max_bytes: int = TAIL_BYTES) -> list[dict[str, Any]]:
    """The whole JSON records in the last `max_bytes` of mc-output, oldest first
    (a partial first line and foreign lines are skipped, never fatal)."""
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - max_bytes))
            data = fh.read()
    except FileNotFoundError:
        return []
    lines = data.split(b"\n")
    if size > max_bytes:
        lines = lines[1:]  # the first line was cut by the seek
    out: list[dict[str, Any]] = []
    for line in lines:
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except (ValueError, RecursionError):
            continue
        if isinstance(record, dict):
            out.append(record)
    return out


def awaiting_outcome(ctx: Context) -> list[dict[str, Any]]:
    """Action confirmations that no outcome confirmation has followed yet."""
    actions: dict[str, dict[str, Any]] = {}
    for rec in read_records(mc_output_path(ctx)):
        if rec.get("type") != "confirmation":
            continue
        action_id = str(rec.get("action_id"))
        if rec.get("phase") == "action":
            actions[action_id] = rec
        elif rec.get("phase") == "outcome":
            actions.pop(action_id, None)
    return list(actions.values())
