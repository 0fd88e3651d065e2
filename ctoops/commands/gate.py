"""`ctoops gate spawn|chain`: may another tool spawn, or run a chained job, now?

Sits in front of every spawn, so it reads the state file without the lock (it is
only ever replaced whole) and without loading the config; it imports only the
state's schema (state_schema), not the transaction, audit and guardrail code, and
no config dataclasses. It fails closed: a state that cannot be read blocks, saying
why. A corrupt file is quarantined through the normal (locked) path so safe mode
starts here too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ctoops.clock import iso, monotonic_now
from ctoops.policy import flags
from ctoops.report import Report
from ctoops.state_schema import parse_state

if TYPE_CHECKING:
    from ctoops.context import Context


def _read(ctx: Context) -> tuple[dict[str, Any] | None, str]:
    path = ctx.workspace.state_file
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}, ""
    except OSError as exc:
        return None, f"cannot read {path}: {exc.strerror or exc}"
    try:
        return parse_state(raw), ""
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        problem = f"state {path} is unreadable ({exc})"
        try:
            with ctx.store().transaction():
                pass  # quarantines the file and enters safe mode, audited
        except Exception as inner:
            problem += f"; quarantine failed too: {inner}"
        return None, problem


def _verdict(name: str, blockers: list[tuple[str, dict[str, Any]]], now: float) -> Report:
    if not blockers:
        return Report(f"gate {name}", 0, "allowed", f"{name}: allowed", data={"allowed": True})
    parts, items = [], []
    for scope, rec in blockers:
        until = rec.get("until")
        when = f"until {iso(float(until))}" if until else "until cleared"
        parts.append(f"{scope} ({rec.get('reason', 'no reason recorded')}) {when}")
        items.append({"scope": scope, "reason": rec.get("reason", ""),
                      "since": rec.get("since"), "until": until,
                      "until_iso": iso(float(until)) if until else None})
    return Report(f"gate {name}", 1, "blocked", f"{name} blocked: " + "; ".join(parts),
                  data={"allowed": False, "blockers": items})


def _now(ctx: Context, state: dict[str, Any]) -> float:
    return monotonic_now(ctx.clock.now(), float(state.get("latest_ts", 0.0)))


def spawn(ctx: Context) -> Report:
    state, problem = _read(ctx)
    if state is None:
        return Report("gate spawn", 1, "blocked", f"spawn blocked (fail closed): {problem}",
                      data={"allowed": False, "error": problem})
    now = _now(ctx, state)
    return _verdict("spawn", flags.spawn_blockers(state, now), now)


def chain(ctx: Context, job: str | None) -> Report:
    state, problem = _read(ctx)
    if state is None:
        return Report("gate chain", 1, "blocked", f"chain blocked (fail closed): {problem}",
                      data={"allowed": False, "error": problem})
    now = _now(ctx, state)
    return _verdict("chain", flags.chain_blockers(state, now, job), now)
