"""Which cron-run sessions are dead (R13 step 2), as a pure function of facts.

A cron-run entry (`agent:<a>:cron:<jobId>:run:<runId>`) is dead when any of:
- finished: its job's run log (file or state database) has its `finished` record;
- superseded: the base `agent:<a>:cron:<jobId>` entry now points at another
  sessionId (a later run took over);
- expired: its `updatedAt` is older than the retention (the gateway's own rule;
  a missing `updatedAt` counts as 0, as the gateway's reaper reads it).

And it is never dead while it has a running descendant: a subagent reached
through `spawnedBy` links or subagent-registry requester links (any depth, cycles
tolerated) whose entry says `status: running` or whose registry run has no end.
When the registry exists but cannot be read, any run with descendants at all is
kept. A run whose own entry says `running`, inside the retention and without a
`finished` line, is kept too: the gateway may still be writing it.

Only exact cron-run keys are judged; every other entry is kept untouched.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from ctoops.probes.openclaw.keys import parse_key

FINISHED, SUPERSEDED, EXPIRED = "finished", "superseded", "expired"


@dataclass(frozen=True)
class EntryFacts:
    key: str
    session_id: str | None
    updated_at_ms: float | None
    spawned_by: str | None
    status: str | None


@dataclass(frozen=True)
class RunContext:
    """What the stores around this one, the run logs and the registry say."""

    finished: Mapping[str, frozenset[str]]  # jobId -> finished runIds/sessionIds/keys
    running_keys: frozenset[str]  # session keys known to be running
    children: Mapping[str, tuple[str, ...]]  # parent key -> child keys
    subagents_known: bool = True


@dataclass(frozen=True)
class PruneVerdict:
    dead: dict[str, str]  # key -> finished | superseded | expired
    protected: dict[str, str]  # key -> why a would-be-dead run is kept


def build_context(all_entries: Iterable[EntryFacts], finished: Mapping[str, frozenset[str]],
                  registry_running: Iterable[str], registry_edges: Iterable[tuple[str, str]],
                  subagents_known: bool) -> RunContext:
    children: dict[str, list[str]] = {}
    running = set(registry_running)
    for e in all_entries:
        if e.spawned_by:
            children.setdefault(e.spawned_by, []).append(e.key)
        if e.status == "running":
            running.add(e.key)
    for parent, child in registry_edges:
        children.setdefault(parent, []).append(child)
    return RunContext(finished, frozenset(running),
                      {k: tuple(v) for k, v in children.items()}, subagents_known)


def _descendants(key: str, children: Mapping[str, tuple[str, ...]]) -> list[str]:
    out: list[str] = []
    seen = {key}
    stack = list(children.get(key, ()))
    while stack:
        child = stack.pop()
        if child in seen:
            continue
        seen.add(child)
        out.append(child)
        stack.extend(children.get(child, ()))
    return out


def decide_dead_runs(entries: Iterable[EntryFacts], ctx: RunContext, now_ms: float,
                     retention_ms: float) -> PruneVerdict:
    """Dead cron runs of one store, and the would-be-dead ones kept on purpose."""
    entries = list(entries)
    by_key = {e.key: e for e in entries}
    cutoff = now_ms - retention_ms
    dead: dict[str, str] = {}
    protected: dict[str, str] = {}
    for e in entries:
        parsed = parse_key(e.key)
        if parsed.kind != "cron_run" or parsed.job_id is None or parsed.run_id is None:
            continue
        ids = {parsed.run_id, e.key} | ({e.session_id} if e.session_id else set())
        finished = bool(ids & ctx.finished.get(parsed.job_id, frozenset()))
        base = by_key.get(parsed.cron_base or "")
        superseded = (base is not None and base.session_id is not None
                      and base.session_id not in (parsed.run_id, e.session_id))
        expired = (e.updated_at_ms or 0.0) < cutoff
        reason = FINISHED if finished else SUPERSEDED if superseded else EXPIRED if expired else None
        if reason is None:
            continue
        descendants = _descendants(e.key, ctx.children)
        running = [d for d in descendants if d in ctx.running_keys]
        if running:
            protected[e.key] = f"{len(running)} running descendant(s), e.g. {running[0]}"
        elif descendants and not ctx.subagents_known:
            protected[e.key] = "has subagents and the subagent registry is unreadable"
        elif e.status == "running" and not finished and not expired:
            protected[e.key] = "its own entry says running (within the retention)"
        else:
            dead[e.key] = reason
    return PruneVerdict(dead, protected)
