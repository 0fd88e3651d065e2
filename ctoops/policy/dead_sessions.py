"""Is a gateway session dead, and which rule says so? Pure functions (R2, R17).

The four rules, each named in what it returns so a person can check it:
- `store_status`: the store says failed, killed or timeout (or, for a cron run,
  its run log says the run finished with an error);
- `missing`: a task names the session but its agent's store (read fine) has no
  such key;
- `owner_rebooted`: it claims running, has not been updated for
  `session_stall_s`, and the gateway booted after its last update, so the
  process that ran it is gone;
- `owner_pid_dead`: it claims running, has not been updated for
  `session_stall_s`, and the process that owned it (the task's execution owner,
  or the gateway boot that was up at its last update) is provably dead.

A stalled session whose owner may still be alive, or whose owner cannot be
known, is reported as `stalled` and never called dead; nor is one with a
running descendant (a subagent it spawned that is still being updated), which
is how a parent waiting on a child looks.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ctoops.audit import iso
from ctoops.config import SessionsConfig
from ctoops.probes.openclaw.keys import parse_key
from ctoops.probes.openclaw.model import (
    DEAD_STATUSES,
    BootRecord,
    CronRunRecord,
    OpenClawSnapshot,
    SessionRecord,
)

RULES = ("store_status", "missing", "owner_rebooted", "owner_pid_dead")
RUNNING, STALLED, DONE, DEAD, UNKNOWN = "running", "stalled", "done", "dead", "unknown"


@dataclass(frozen=True)
class SessionVerdict:
    key: str
    state: str  # running | stalled | done | dead | unknown
    rule: str | None  # one of RULES when dead
    explanation: str
    record: SessionRecord | None = None

    @property
    def dead(self) -> bool:
        return self.state == DEAD


@dataclass(frozen=True)
class SessionIndex:
    """The snapshot arranged for lookups; built once per run."""

    records: dict[str, SessionRecord]
    readable_agents: frozenset[str]
    boots: tuple[BootRecord, ...]  # oldest first
    pid_status: dict[int, str]
    finished_runs: dict[str, CronRunRecord]  # by session key and by run (session) id
    children: dict[str, tuple[str, ...]]  # parent key -> child session keys

    @classmethod
    def build(cls, snap: OpenClawSnapshot) -> SessionIndex:
        records: dict[str, SessionRecord] = {}
        for agent in snap.agents:
            if agent.readable:
                for rec in agent.records:
                    records[rec.key] = rec
        boots = list(snap.ledger.boots)
        if snap.gateway_pid is not None and snap.gateway_started_ms is not None and not any(
                b.pid == snap.gateway_pid for b in boots):
            boots.append(BootRecord("process", snap.gateway_pid, snap.gateway_started_ms,
                                    None, None, "the running gateway process"))
        finished: dict[str, CronRunRecord] = {}
        for run in snap.ledger.cron_runs:
            if run.status == "running":
                continue
            for ref in (run.session_key, run.run_id):
                if ref and (ref not in finished
                            or (run.finished_at_ms or 0) > (finished[ref].finished_at_ms or 0)):
                    finished[ref] = run
        children: dict[str, list[str]] = {}
        for rec in records.values():
            if rec.spawned_by:
                children.setdefault(rec.spawned_by, []).append(rec.key)
        for sub in snap.ledger.subagents:
            if sub.requester_session_key and sub.status == RUNNING:
                children.setdefault(sub.requester_session_key, []).append(sub.child_session_key)
        return cls(records, frozenset(a.agent_id for a in snap.agents if a.readable),
                   tuple(sorted(boots, key=lambda b: b.started_at_ms)), dict(snap.pid_status),
                   finished, {k: tuple(v) for k, v in children.items()})


def _ago(now_ms: int, then_ms: int) -> str:
    return f"{max(0, now_ms - then_ms) / 1000:.0f} s ago ({iso(then_ms / 1000)})"


def _boot_after(boots: Iterable[BootRecord], updated_ms: int) -> BootRecord | None:
    return next((b for b in boots if b.started_at_ms > updated_ms), None)


def _boot_at(boots: tuple[BootRecord, ...], at_ms: int) -> BootRecord | None:
    """The gateway boot that was up at `at_ms`, if the history says."""
    up = [b for b in boots if b.started_at_ms <= at_ms
          and (b.completed_at_ms is None or b.completed_at_ms >= at_ms)]
    return up[-1] if up else None


def _live_child(key: str, index: SessionIndex, stall_ms: float, now_ms: int,
                depth: int = 0) -> str | None:
    """A descendant still running and recently updated (a parent waiting on it)."""
    if depth > 8:
        return None
    for child_key in index.children.get(key, ()):
        child = index.records.get(child_key)
        if child is None or child.status != RUNNING:
            continue
        if child.updated_at_ms is not None and now_ms - child.updated_at_ms <= stall_ms:
            return child_key
        deeper = _live_child(child_key, index, stall_ms, now_ms, depth + 1)
        if deeper:
            return deeper
    return None


def _cron_run_evidence(rec: SessionRecord, index: SessionIndex) -> SessionVerdict | None:
    key = parse_key(rec.key)
    if key.kind != "cron_run":
        return None
    run = index.finished_runs.get(rec.key) or index.finished_runs.get(key.run_id or "") or (
        index.finished_runs.get(rec.session_id) if rec.session_id else None)
    if run is None:
        return None
    when = iso(run.finished_at_ms / 1000) if run.finished_at_ms else "an unknown time"
    if run.status == "ok":
        return SessionVerdict(rec.key, DONE, None, f"the store says running, but the run log "
                              f"says the run finished ok at {when}", rec)
    return SessionVerdict(rec.key, DEAD, "store_status", f"the run log says the run finished "
                          f"with status {run.status} at {when}"
                          + (f": {run.error}" if run.error else ""), rec)


def judge(key: str, index: SessionIndex, cfg: SessionsConfig, now: float,
          owner_pid: int | None = None) -> SessionVerdict:
    """The verdict on one session key (with the owner pid a task names, if any)."""
    now_ms = int(now * 1000)
    rec = index.records.get(key)
    if rec is None:
        agent = parse_key(key).agent_id
        if agent and agent in index.readable_agents:
            return SessionVerdict(key, DEAD, "missing", f"agent {agent}'s session store has no "
                                  "such session, but a task still names it")
        return SessionVerdict(key, UNKNOWN, None, f"no readable session store for agent "
                              f"{agent or '?'}: cannot tell whether it exists")
    if rec.status in DEAD_STATUSES:
        when = f", last updated {_ago(now_ms, rec.updated_at_ms)}" if rec.updated_at_ms else ""
        return SessionVerdict(key, DEAD, "store_status", f"the store says {rec.status}{when}", rec)
    if rec.status != RUNNING:
        return SessionVerdict(key, DONE if rec.status == "done" else UNKNOWN, None,
                              f"the store says {rec.status or 'nothing about its status'}", rec)
    evidence = _cron_run_evidence(rec, index)
    if evidence is not None:
        return evidence
    stall_ms = cfg.session_stall_s * 1000
    if rec.updated_at_ms is None or now_ms - rec.updated_at_ms <= stall_ms:
        return SessionVerdict(key, RUNNING, None, "running", rec)
    since = f"not updated since {_ago(now_ms, rec.updated_at_ms)}"
    child = _live_child(key, index, stall_ms, now_ms)
    if child:
        return SessionVerdict(key, RUNNING, None, f"{since}, but its descendant {child} is "
                              "still running: waiting on it", rec)
    boot = _boot_after(index.boots, rec.updated_at_ms)
    if boot is not None:
        return SessionVerdict(key, DEAD, "owner_rebooted", f"claims running, {since}; the "
                              f"gateway booted after that, at {iso(boot.started_at_ms / 1000)} "
                              f"(pid {boot.pid}), so the process that ran it is gone", rec)
    owner = owner_pid
    source = "its task's execution owner"
    if owner is None:
        up = _boot_at(index.boots, rec.updated_at_ms)
        owner = up.pid if up else None
        source = "the gateway boot that was up at its last update"
    if owner is not None and index.pid_status.get(owner) == "dead":
        return SessionVerdict(key, DEAD, "owner_pid_dead", f"claims running, {since}; "
                              f"{source} (pid {owner}) is dead", rec)
    why = (f"its owner pid {owner} is {index.pid_status.get(owner, 'unknown')}"
           if owner is not None else "its owner is unknown (no boot history, no owner pid)")
    return SessionVerdict(key, STALLED, None, f"claims running, {since}; {why}: not called "
                          "dead", rec)


LISTED = 50  # sessions named per state in the report; all are counted


def judge_all(index: SessionIndex, cfg: SessionsConfig, now: float,
              already: dict[str, SessionVerdict]) -> dict[str, SessionVerdict]:
    """Verdicts for every session the readers kept (running, named, a dead sample)."""
    out = dict(already)
    for key in index.records:
        if key not in out:
            out[key] = judge(key, index, cfg, now)
    return out


def listing(snap: OpenClawSnapshot, verdicts: dict[str, SessionVerdict]
            ) -> tuple[list[tuple[str, str, str]], dict[str, object]]:
    """(risk, check, message) lines and the --json view of what runs and what is dead."""
    lines: list[tuple[str, str, str]] = []
    for agent in snap.agents:
        if not agent.readable:
            continue
        counts = ", ".join(f"{k} {v}" for k, v in sorted(agent.by_status.items())) or "empty"
        lines.append(("none", f"store:{agent.agent_id}",
                      f"agent {agent.agent_id} ({agent.era} era, {agent.source}): "
                      f"{agent.total} sessions ({counts})"))
    by_state: dict[str, list[SessionVerdict]] = {}
    for v in verdicts.values():
        by_state.setdefault(v.state, []).append(v)
    stalled = by_state.get(STALLED, [])
    if stalled:
        lines.append(("low", "stalled", f"{len(stalled)} session(s) claim running without "
                      f"updates, owner not provably gone: "
                      + "; ".join(f"{v.key}: {v.explanation}" for v in stalled[:5])))
    hidden_dead = [v for v in by_state.get(DEAD, []) if v.rule in ("owner_rebooted",
                                                                    "owner_pid_dead")]
    if hidden_dead:
        lines.append(("low", "dead_running", f"{len(hidden_dead)} session(s) claim running but "
                      "are dead: " + "; ".join(f"{v.key} ({v.rule})" for v in hidden_dead[:5])))
    owner = _owner_line(snap)
    if owner is not None:
        lines.append(owner)
    orphan_runs = [r for r in snap.ledger.cron_runs if r.status == RUNNING and r.owner_pid
                   and snap.pid_status.get(r.owner_pid) == "dead"]
    if orphan_runs:
        lines.append(("low", "cron_run_owner_dead", f"{len(orphan_runs)} cron run(s) claim "
                      "running but their owner process is gone: " + "; ".join(
                          f"job {r.job_id} run {r.run_id or '?'} (pid {r.owner_pid})"
                          for r in orphan_runs[:5])))

    def view(v: SessionVerdict) -> dict[str, object]:
        rec = v.record
        return {"key": v.key, "state": v.state, "rule": v.rule, "explanation": v.explanation,
                "agent_id": rec.agent_id if rec else parse_key(v.key).agent_id,
                "session_id": rec.session_id if rec else None,
                "status": rec.status if rec else None,
                "updated_at_ms": rec.updated_at_ms if rec else None}

    data: dict[str, object] = {
        state: [view(v) for v in sorted(items, key=lambda x: x.key)[:LISTED]]
        for state, items in by_state.items()}
    data["counts"] = {state: len(items) for state, items in by_state.items()}
    return lines, data


def _owner_line(snap: OpenClawSnapshot) -> tuple[str, str, str] | None:
    """Who owns the gateway now, by its lease and its boot history (R3)."""
    lease, boots = snap.ledger.lease, sorted(snap.ledger.boots, key=lambda b: b.started_at_ms)
    last = boots[-1] if boots else None
    if lease is not None and lease.pid is not None:
        status = snap.pid_status.get(lease.pid, "unknown")
        if status == "dead":
            return ("low", "gateway_owner", f"the gateway-owner lease names pid {lease.pid}, "
                    "which is gone: the gateway stopped without releasing it")
        return ("none", "gateway_owner", f"gateway owner pid {lease.pid} ({status})"
                + (f", booted {iso(last.started_at_ms / 1000)}" if last else ""))
    if last is not None and last.completed_at_ms is not None:
        return ("none", "gateway_owner", f"no gateway owner: the last boot (pid {last.pid}) "
                f"ended {iso(last.completed_at_ms / 1000)} ({last.outcome or 'unknown'})")
    return None
