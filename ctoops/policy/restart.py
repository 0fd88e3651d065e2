"""Pure decisions of the safe restart: one at a time, and what it taught (R13, R14).

- `restart_in_flight`: a reserved restart whose lease has not run out and whose
  process still lives is in flight; a second run is refused (exit 75) instead of
  restarting the gateway under the first one's feet. The budget and kill-switch
  alone would let a second restart through (3 per hour, 2 per 5 minutes).
- `reduction_pct` / `judge_reduction` / `lesson`: the measured memory change set
  against the runbook's expected 50-60% (R14), in words for memory/lessons.md.
No I/O and no clock: callers pass `now` and whether each owner pid is alive.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


def restart_in_flight(intents: Mapping[str, Mapping[str, Any]], action: str, now: float,
                      alive: Mapping[int, bool]) -> dict[str, Any] | None:
    """The in-flight intent for `action`, if any. An intent whose owner pid is known
    dead is not in flight (the sweep records it as outcome_unknown when its lease
    ends; its budget slot stays spent)."""
    for intent in intents.values():
        if intent.get("action") != action:
            continue
        if float(intent.get("lease_until", 0)) <= now:
            continue
        pid = intent.get("pid")
        if isinstance(pid, int) and alive.get(pid) is False:
            continue
        return dict(intent)
    return None


def reduction_pct(before: int | None, after: int | None) -> float | None:
    if not before or after is None:
        return None
    return round(100.0 * (before - after) / before, 1)


def judge_reduction(pct: float | None, low: float, high: float) -> str:
    if pct is None:
        return "unavailable"
    if pct < low:
        return "below"
    if pct > high:
        return "above"
    return "within"


def human_bytes(n: int | None) -> str:
    if n is None:
        return "unknown"
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.1f} {unit}" if unit != "B" else f"{int(value)} B"
        value /= 1024
    return f"{n} B"


@dataclass(frozen=True)
class RestartFacts:
    """What one safe restart measured, for the lesson (all plain values)."""

    event_id: str
    reason: str
    auto: bool
    outcome: str  # done | failed
    failed_step: str | None
    before: Mapping[str, Any]
    after: Mapping[str, Any] | None
    ready: bool
    ready_after_s: float | None
    settle_s: float
    prune_summary: str
    prune_stuck: str
    cleanup_summary: str


METRICS = (("tree_rss_bytes", "tree RSS"), ("cgroup_usage_bytes", "cgroup usage"))


def pick_metric(before: Mapping[str, Any], after: Mapping[str, Any] | None
                ) -> tuple[str, int | None, int | None]:
    """The first measure taken both before and after (process tree RSS, else the
    cgroup's usage); otherwise whatever half exists, for the lesson to say so."""
    after = after or {}
    for key, name in METRICS:
        if before.get(key) is not None and after.get(key) is not None:
            return name, before[key], after[key]
    b = next((before[k] for k, _ in METRICS if before.get(k) is not None), None)
    a = next((after[k] for k, _ in METRICS if after.get(k) is not None), None)
    return "memory", b, a


def lesson(f: RestartFacts, low: float, high: float) -> tuple[str, str, dict[str, Any]]:
    """(title, Markdown body, numbers) for memory/lessons.md."""
    name, before, after = pick_metric(f.before, f.after)
    pct = reduction_pct(before, after) if f.ready and name != "memory" else None
    verdict = judge_reduction(pct, low, high)
    if f.outcome != "done":
        title = f"Gateway restart failed at {f.failed_step}"
    elif pct is None:
        title = "Gateway restarted; memory reduction unavailable"
    else:
        title = f"Gateway restart freed {pct:g}% memory (expected {low:g}-{high:g}%)"
    if pct is None and f.outcome == "done":
        missing = ("before" if before is None else "after" if after is None
                   else "a common measure")
        why = f.before.get("error") or (f.after or {}).get("error") or "not measured"
        measured = f"- measurement unavailable ({missing}): {why}"
    elif pct is None:
        measured = (f"- memory before: {human_bytes(before)}; after: not measured "
                    "(the gateway was not confirmed ready)")
    else:
        measured = (f"- {name}: {human_bytes(before)} (pid {f.before.get('pid')}) -> "
                    f"{human_bytes(after)} (pid {(f.after or {}).get('pid')}), "
                    f"{pct:g}% less: {verdict} the expected {low:g}-{high:g}% (R14)")
    ready = (f"ready after {f.ready_after_s:.1f} s, measured after a {f.settle_s:g} s settle"
             if f.ready and f.ready_after_s is not None else "not confirmed ready")
    body = "\n".join([
        f"- event {f.event_id} ({'automatic' if f.auto else 'by hand'}); reason: {f.reason}",
        measured,
        f"- gateway: {ready}",
        f"- dead cron runs: {f.prune_summary}; after the restart: {f.prune_stuck}",
        f"- leftovers: {f.cleanup_summary}",
    ])
    numbers = {"metric": name, "before_bytes": before, "after_bytes": after,
               "reduction_pct": pct, "expected_pct": [low, high], "verdict": verdict}
    return title, body, numbers
