"""`ctoops check sessions`: the gateway's sessions, subagents, tasks and heartbeat
(R2, R3), and procedure P2 for tasks whose session died (R17-R19).

The four steps, in order:
1. sense (no lock): the MC board, then the gateway state root in whichever
   storage era each part is in (probes.openclaw.snapshot); slow for a 100 MB
   store, so never under the lock;
2. decide (under the lock, pure): policy.sessions (dead sessions, P2, retry
   policy) and policy.heartbeat, against this command's memory in the state;
3. act (under the lock, milliseconds): the board updates, re-checked and
   written atomically;
4. record (same transaction): the trail (R18, R27), the audit lines, review
   events for `manual`; then, outside the lock, the notices.
With --dry-run nothing is written anywhere: the state is read without the lock
and the board updates are only described.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from ctoops.actions.board import BoardResult, BoardSnapshot, open_board
from ctoops.actions.notify import Notice, dispatch, write_mc_output
from ctoops.audit import AuditEvent, iso
from ctoops.context import Context
from ctoops.policy import heartbeat, sessions
from ctoops.policy.dead_sessions import listing
from ctoops.probes.openclaw.model import OpenClawSnapshot
from ctoops.probes.openclaw.snapshot import read_snapshot
from ctoops.report import Finding, Report, check_report

if TYPE_CHECKING:
    from ctoops.state import Transaction

NAME = "check sessions"


# --- 1. sense ---------------------------------------------------------------------
def _sense(ctx: Context) -> tuple[BoardSnapshot, OpenClawSnapshot, float]:
    cfg = ctx.config
    started = time.monotonic()
    board = open_board(ctx.workspace.path(cfg.sessions.board_path)).read()
    keys = frozenset(t.session_key for t in board.tasks if t.session_key)
    ids = frozenset(t.openclaw_task_id for t in board.tasks if t.openclaw_task_id)
    snap = read_snapshot(ctx.workspace.path(cfg.gateway.state_dir), keys, ids)
    if snap.exists and not snap.ledger.boots and _stalled_running(snap, ctx):
        snap = _with_gateway_process(ctx, snap)
    return board, snap, time.monotonic() - started


def _stalled_running(snap: OpenClawSnapshot, ctx: Context) -> bool:
    """Only then is the gateway's own start time worth a process lookup."""
    limit_ms = (ctx.clock.now() - ctx.config.sessions.session_stall_s) * 1000
    return any(r.status == "running" and r.updated_at_ms is not None and r.updated_at_ms < limit_ms
               for a in snap.agents for r in a.records)


def _with_gateway_process(ctx: Context, snap: OpenClawSnapshot) -> OpenClawSnapshot:
    """File-era installations keep no boot history: the gateway process's start
    time is the boot evidence then."""
    from ctoops.probes.process import find_gateway, port_of

    g = ctx.config.gateway
    proc = find_gateway(g.unit, g.systemd_scope, g.process_name, port_of(g.health_url))
    if proc is None:
        return snap
    return replace(snap, gateway_pid=proc.pid, gateway_started_ms=int(proc.create_time * 1000))


# --- 2. to 4. decide, act, record ----------------------------------------------------
def run(ctx: Context) -> Report:
    board_view, snap, read_s = _sense(ctx)
    cfg = ctx.config.sessions
    board = open_board(ctx.workspace.path(cfg.board_path))
    if ctx.dry_run:
        memory, notes = _read_memory(ctx)
        now = ctx.clock.now()
        decision = sessions.decide(snap, board_view, memory, cfg, now)
        beats = heartbeat.decide_heartbeats(snap, decision.memory["heartbeat_stale"], cfg, now)
        results = [BoardResult(u.task_id, "dry_run", "not written (--dry-run)")
                   for u in decision.updates]
    else:
        notes: list[str] = []
        with ctx.store().transaction() as tx:
            now = tx.now
            decision = sessions.decide(snap, board_view, tx.state["commands"].get(NAME), cfg, now)
            beats = heartbeat.decide_heartbeats(snap, decision.memory["heartbeat_stale"], cfg,
                                                now)
            results = board.apply(decision.updates)
            sessions.record_board_results(decision.memory, results)
            _record(tx, ctx, decision, beats, results)
        notices: list[Notice] = [*decision.notices, *beats.notices]
        dispatch(ctx, notices)
        _confirm(ctx, decision, results, now)
    return _report(ctx, snap, board_view, decision, beats, results, read_s, now, notes)


def _read_memory(ctx: Context) -> tuple[dict[str, Any], list[str]]:
    try:
        state = ctx.store().read()
    except (OSError, ValueError) as exc:
        return {}, [f"dry-run: the state could not be read ({exc}); judged as if empty"]
    return state["commands"].get(NAME) or {}, []


def _record(tx: Transaction, ctx: Context, d: sessions.SessionsDecision, beats: heartbeat.HeartbeatDecision,
            results: list[BoardResult]) -> None:
    outcome_of = {r.task_id: r for r in results}
    for lost in d.lost:
        res = outcome_of.get(lost.task.task_id)
        if not lost.new and (res is None or res.outcome not in ("done", "failed")):
            continue
        outcome = {"done": "done", "failed": "failed"}.get(res.outcome if res else "", "observed")
        details = {**lost.as_dict(), "board": {"outcome": res.outcome if res else None,
                                               "detail": res.detail if res else ""}}
        reason = (f"P2: task {lost.task.task_id} lost its session {lost.verdict.key} "
                  f"({lost.verdict.rule}: {lost.verdict.explanation}); moved to review; "
                  f"retry policy {lost.policy.verdict}")
        tx.audit(AuditEvent(NAME, "sessions", "medium", "task_to_review", outcome,
                            reason if lost.new else f"board move retried: {reason}", details,
                            auto=ctx.is_auto))
        if lost.new:
            tx.decision(f"task {lost.task.task_id} lost session {lost.verdict.key}: "
                        f"{lost.policy.verdict}", "medium", details)
    for review in d.reviews:
        tx.open_review(**review)
        tx.audit(AuditEvent(NAME, "sessions", "medium", "task_manual_retry", "alerted",
                            review["summary"], review["details"], auto=ctx.is_auto))
    old_stale = set(d.memory.get("heartbeat_stale", {}))
    new_stale = beats.stale
    for agent in sorted(set(new_stale) - old_stale):
        tx.decision(f"heartbeat of agent {agent} is stale", "medium", {"agent": agent})
        tx.audit(AuditEvent(NAME, "heartbeat", "medium", "heartbeat_stale", "alerted",
                            f"agent {agent}: heartbeat stale", {"agent": agent}, auto=ctx.is_auto))
    for agent in sorted(old_stale - set(new_stale)):
        tx.audit(AuditEvent(NAME, "heartbeat", "low", "heartbeat_fresh", "observed",
                            f"agent {agent}: heartbeat fresh again", {"agent": agent},
                            auto=ctx.is_auto))
    d.memory["heartbeat_stale"] = new_stale
    tx.state["commands"][NAME] = d.memory


def _confirm(ctx: Context, d: sessions.SessionsDecision, results: list[BoardResult],
             now: float) -> None:
    """mc-output lines the orchestrator reads: each move with its retry policy."""
    done = {r.task_id for r in results if r.outcome == "done"}
    for lost in d.lost:
        if lost.task.task_id in done:
            write_mc_output(ctx, {"type": "task_review", "ts": now, "at": iso(now),
                                  **lost.as_dict()})


def _report(ctx: Context, snap: OpenClawSnapshot, board: BoardSnapshot,
            d: sessions.SessionsDecision, beats: heartbeat.HeartbeatDecision, results: list[BoardResult],
            read_s: float, now: float, notes: list[str]) -> Report:
    verdicts, hb_findings = beats.verdicts, beats.findings
    findings: list[Finding] = []
    lines, sessions_data = listing(snap, d.verdicts)
    findings += [Finding("sessions", check, risk, text) for risk, check, text in lines]
    for problem in [*snap.problems, *snap.ledger.problems,
                    *(p for a in snap.agents for p in a.problems)]:
        findings.append(Finding("sessions", f"source:{problem.kind}", problem.risk,
                                f"{problem.source}: {problem.message}"))
    findings += [Finding("board", "board", "medium", p) for p in board.problems]
    findings += d.findings
    for r in results:
        if r.outcome == "failed":
            findings.append(Finding("board", f"move:{r.task_id}", "medium",
                                    f"task {r.task_id}: not written to the board: {r.detail}"))
    findings += hb_findings
    counts = sessions_data["counts"]
    new_lost = [x for x in d.lost if x.new]
    ages = [v.age_s for v in verdicts if v.age_s is not None]
    summary = (f"{sum(a.total for a in snap.agents)} sessions in {len(snap.agents)} store(s); "
               f"running {counts.get('running', 0)}, dead {counts.get('dead', 0)}, "
               f"stalled {counts.get('stalled', 0)}; tasks newly lost {len(new_lost)}, "
               f"awaiting retry {len(d.policies)}; "
               f"stale heartbeats {sum(v.stale for v in verdicts)}")
    perf = {"sessions": str(sum(a.total for a in snap.agents)),
            "running": str(counts.get("running", 0)), "dead": str(counts.get("dead", 0)),
            "stalled": str(counts.get("stalled", 0)), "tasks_lost": str(len(new_lost)),
            "read_s": f"{read_s:.3f}s"}
    if ages:
        perf["heartbeat_age_s"] = f"{max(ages):.0f}s"
    result_of = {r.task_id: r for r in results}
    data = {
        "now": now, "now_iso": iso(now), "dry_run": ctx.dry_run, "state_dir": snap.state_dir,
        "read_s": round(read_s, 3),
        "agents": [{"agent_id": a.agent_id, "era": a.era, "source": a.source,
                    "readable": a.readable, "total": a.total, "by_status": a.by_status,
                    "schema_version": a.schema_version, "bytes_read": a.bytes_read}
                   for a in snap.agents],
        "sessions": sessions_data,
        "tasks": {"lost": [{**x.as_dict(), "board": (result_of[x.task.task_id].__dict__
                                                     if x.task.task_id in result_of else None)}
                           for x in d.lost],
                  "ledger_tasks": len(snap.ledger.tasks),
                  "ledger_running": sum(t.status == "running" for t in snap.ledger.tasks)},
        "retry_policies": d.policies,
        "heartbeats": [v.as_dict() for v in verdicts],
        "subagents": {"known": len(snap.ledger.subagents),
                      "running": sum(s.status == "running" for s in snap.ledger.subagents)},
        "gateway": _gateway_view(snap),
        "board": {"source": board.source, "exists": board.exists, "readable": board.readable,
                  "tasks": len(board.tasks)},
    }
    report = check_report(NAME, findings, summary, perf, data)
    report.notes.extend(notes)
    return report


def _gateway_view(snap: OpenClawSnapshot) -> dict[str, Any]:
    lease = snap.ledger.lease
    return {
        "owner_lease": None if lease is None else {
            **lease.__dict__, "pid_status": snap.pid_status.get(lease.pid or -1, "unknown"),
            "expires_at": iso(lease.expires_at_ms / 1000) if lease.expires_at_ms else None},
        "boots": [{**b.__dict__, "started_at": iso(b.started_at_ms / 1000),
                   "pid_status": snap.pid_status.get(b.pid, "unknown")}
                  for b in sorted(snap.ledger.boots, key=lambda b: -b.started_at_ms)[:5]],
        "process": ({"pid": snap.gateway_pid, "started_ms": snap.gateway_started_ms}
                    if snap.gateway_pid else None),
    }
