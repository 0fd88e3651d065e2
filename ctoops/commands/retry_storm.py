"""`ctoops retry-storm`: detect repeated errors and freeze chained execution (P3:
R4, R20, R21, R25).

Sense: the configured sources in order (gateway log files, journald, cron stores,
the workspace events file), each from its own cursor, each bounded per run.
Decide: `policy.storm.decide` (pure). Act and record: in one short transaction the
freezes are asked of the guardrails (a chain freeze is a critical action: the
kill-switch may hold it), written, and reviewed; messages go out after it.

The sources are read without the lock (8 MB of logs take a while); the cursors
they started from carry the memory's `generation`, and if another run committed
in between, this run's reading is dropped rather than counted twice.
"""

from __future__ import annotations

import copy
import time
from typing import Any

from ctoops.actions import freeze as effector
from ctoops.actions.notify import Notice, dispatch
from ctoops.audit import iso
from ctoops.context import Context
from ctoops.errors import EXIT_DONE, EXIT_TEMPFAIL, CtoopsError
from ctoops.policy import storm
from ctoops.policy.flags import active
from ctoops.policy.guardrails import ALLOWED, NEEDS_APPROVAL, ActionRequest
from ctoops.probes.errorevent import ABSENT, FAILED, SourceRead
from ctoops.report import Finding, Report, check_report

NAME = "retry-storm"


def run(ctx: Context) -> Report:
    started = time.monotonic()  # the run's own cost, reported (never used to decide)
    cfg = ctx.config.retry_storm
    store = ctx.store()
    start_memory = _snapshot_memory(store)
    cursors = start_memory.get("cursors")
    # 1. sense (no lock held)
    reads, jobs = sense(ctx, cursors if isinstance(cursors, dict) else {}, ctx.clock.now())
    events = [e for r in reads for e in r.events]
    notices: list[Notice] = []
    actions: list[dict[str, Any]] = []
    with store.transaction() as tx:
        memory = copy.deepcopy(tx.state["commands"].get(NAME))
        memory = memory if isinstance(memory, dict) else {}
        overlapped = _generation(memory) != _generation(start_memory)
        if overlapped:
            events, jobs = [], None  # another run counted these meanwhile
        # 2. decide (pure)
        decision = storm.decide(events, jobs, memory, tx.state["freezes"], tx.state["approvals"],
                                cfg, tx.now)
        # 3. act + record, within the guardrails
        held = dict(decision.memory["held"])
        for want in decision.wants:
            actions.append(_ask_freeze(ctx, tx, want, held, notices))
        for close in decision.closes:
            actions.append({"action": "unfreeze", "scope": close.scope, "outcome":
                            "dry_run" if ctx.dry_run else "done", "reason": close.reason})
            if not ctx.dry_run:
                notices += effector.lift_freeze(tx, ctx.workspace, close.scope, close.record,
                                                close.reason)
        if not ctx.dry_run:
            cursors = dict(memory["cursors"]) if isinstance(memory.get("cursors"), dict) else {}
            if not overlapped:
                cursors.update({r.name: r.cursor for r in reads})
            tx.state["commands"][NAME] = {
                **decision.memory, "held": held, "cursors": cursors,
                "generation": _generation(memory) + 1,
                "last_run": {"ts": tx.now, "at": iso(tx.now), "level": decision.level,
                             "new_events": len(events),
                             "bytes_read": sum(r.bytes_read for r in reads)}}
        freezes_now = {s: dict(r) for s, r in tx.state["freezes"].items()
                       if isinstance(r, dict) and r.get("set_by") == storm.SET_BY}
        now = tx.now
    # 4. tell people (slow: after the lock)
    dispatch(ctx, notices)
    report = _report(ctx, reads, decision, actions, freezes_now, overlapped, now)
    report.data["elapsed_ms"] = round((time.monotonic() - started) * 1000, 1)
    return report


def _generation(memory: dict[str, Any]) -> int:
    value = memory.get("generation", 0)
    return value if isinstance(value, int) else 0


def _snapshot_memory(store: Any) -> dict[str, Any]:
    """The memory as the last run left it, read without the lock (the file is only
    ever replaced whole). Unreadable: start afresh (the transaction quarantines it)."""
    try:
        memory = store.read().get("commands", {}).get(NAME)
    except (OSError, ValueError, CtoopsError):
        return {}
    return memory if isinstance(memory, dict) else {}


def sense(ctx: Context, cursors: dict[str, Any], now: float
          ) -> tuple[list[SourceRead], tuple[Any, ...] | None]:
    """Every configured source, in order. A missing one is a note; one that fails
    (permissions, a locked database) is a note too, never a crash of the run."""
    import sqlite3

    cfg, gw = ctx.config.retry_storm, ctx.config.gateway
    reads: list[SourceRead] = []
    jobs = None
    for name in cfg.sources:
        cursor = cursors.get(name)
        try:
            if name == "gateway_log":
                from ctoops.probes.gatewaylog import read_gateway_log

                reads.append(read_gateway_log(ctx.workspace.path(gw.log_dir), cfg.log_prefix,
                                              cursor, cfg.max_bytes_per_run,
                                              list(cfg.log_levels), now))
            elif name == "journal":
                from ctoops.probes.journal import read_journal

                text = cursor.get("cursor") if isinstance(cursor, dict) else None
                reads.append(read_journal(
                    f"{gw.unit}.service" if not gw.unit.endswith(".service") else gw.unit,
                    gw.systemd_scope, text if isinstance(text, str) else None,
                    now - cfg.window_s, cfg.journal_max_priority, cfg.max_bytes_per_run,
                    cfg.journal_timeout_s, cfg.journal_directory))
            elif name == "cron":
                from ctoops.probes.openclaw.cron import read_cron

                got = read_cron(ctx.workspace.path(gw.state_dir), cursor,
                                int((now - cfg.window_s) * 1000))
                reads.append(got.source)
                jobs = got.jobs
            elif name == "events":
                from ctoops.probes.eventsfile import read_events_file

                reads.append(read_events_file(ctx.workspace.path(cfg.events_path), cursor,
                                              cfg.max_bytes_per_run, now))
        except (OSError, sqlite3.Error) as exc:
            reads.append(SourceRead(name, FAILED, cursor=cursor if isinstance(cursor, dict)
                                    else None, notes=(f"{name}: {exc}",)))
    return reads, jobs


def _ask_freeze(ctx: Context, tx: Any, want: storm.FreezeWant, held: dict[str, Any],
                notices: list[Notice]) -> dict[str, Any]:
    """One freeze through the guardrails (R25): applied, held for a person, or
    (dry run) only described."""
    req = ActionRequest(effector.ACTION, effector.SUBSYSTEM, "high", want.reason, critical=True,
                        auto=True)
    guarded = tx.request(req, want.as_args(), dry_run=ctx.dry_run)
    verdict = guarded.verdict
    entry = {"action": want.kind, "scope": want.scope, "level": want.level,
             "duration_s": want.duration_s, "reason": want.reason,
             "verdict": verdict.outcome, "explanation": verdict.explanation}
    if ctx.dry_run:
        return {**entry, "outcome": "dry_run"}
    if verdict.outcome == ALLOWED:
        record, sent = effector.apply_freeze(tx, want.as_args(), guarded.event_id, None,
                                             ctx.config.notify.repeat_interval_s)
        notices.extend(sent)
        return {**entry, "outcome": "done", "until": record["until"],
                "until_at": record["until_at"]}
    if verdict.outcome == NEEDS_APPROVAL and guarded.approval_id:
        held[want.scope] = {"approval_id": guarded.approval_id, "since": tx.now}
        notices.append(effector.held_notice(want.scope, guarded.approval_id, want.reason,
                                            verdict.explanation))
        return {**entry, "outcome": "needs_approval", "approval_id": guarded.approval_id}
    return {**entry, "outcome": "refused"}


def run_approved(ctx: Context, record: dict[str, Any], override_budget: bool) -> Report:
    """Apply a freeze the kill-switch held, now that a person approved it."""
    args = dict(record.get("args") or {})
    scope = str(args.get("scope", "global"))
    notices: list[Notice] = []
    with ctx.store().transaction() as tx:
        memory = tx.state["commands"].setdefault(NAME, {})
        if isinstance(memory.get("held"), dict):
            memory["held"].pop(scope, None)
        current = tx.state["freezes"].get(scope)
        if active(current, tx.now):
            return Report(NAME, EXIT_DONE, "done",
                          f"{scope} is already frozen until {current.get('until_at')}: not "
                          "stacked", data={"scope": scope, "freeze": current})
        req = ActionRequest(effector.ACTION, effector.SUBSYSTEM, "high", str(record["reason"]),
                            critical=True, auto=bool(record.get("auto")), approved=True,
                            override_budget=override_budget)
        guarded = tx.request(req, {**args, "approval_id": record["id"]})
        if not guarded.verdict.allowed:
            return Report(NAME, EXIT_TEMPFAIL, "refused", guarded.verdict.explanation,
                          data={"scope": scope, "verdict": guarded.verdict.as_dict()})
        applied, notices = effector.apply_freeze(tx, args, guarded.event_id, record["id"],
                                                 ctx.config.notify.repeat_interval_s)
    dispatch(ctx, notices)
    return Report(NAME, EXIT_DONE, "done",
                  f"chain frozen ({scope}) until {applied['until_at']}: {applied['reason']}",
                  data={"scope": scope, "freeze": applied})


def _report(ctx: Context, reads: list[SourceRead], decision: storm.StormDecision,
            actions: list[dict[str, Any]], freezes: dict[str, Any], overlapped: bool,
            now: float) -> Report:
    cfg = ctx.config.retry_storm
    findings: list[Finding] = []
    notes: list[str] = []
    for act in actions:
        findings.append(_action_finding(act))
    for scope, rec in decision.frozen:
        findings.append(Finding("chain", f"freeze:{scope}", "high",
                                f"chain frozen ({scope}) until {rec.get('until_at')} "
                                f"({max(0.0, float(rec['until']) - now):.0f} s left, level "
                                f"{rec.get('level', 1)}): {rec.get('reason')}", rec))
    for h in decision.held:
        findings.append(Finding("chain", f"held:{h.scope}", "high",
                                f"storm on {h.scope}: freeze {h.status} (approval {h.approval_id});"
                                f" see `ctoops approvals list`", {"approval_id": h.approval_id}))
    for scope in decision.covered:
        findings.append(Finding("chain", f"storm:{scope}", "high",
                                f"storm on {scope}; an open freeze already covers it (not "
                                "stacked)", {}))
    for scope in decision.waiting:
        findings.append(Finding("chain", f"half-open:{scope}", "low",
                                f"{scope}: freeze ended; no cron data this run to judge it", {}))
    for v in decision.top:
        risk = ("high" if v.count >= cfg.threshold else
                "medium" if v.count >= storm.half(cfg.threshold) else "none")
        findings.append(Finding("errors", f"fingerprint:{v.key}", risk,
                                f"{v.count} in the last {cfg.window_s:g} s: {_line(v.template)} "
                                f"(sample: {_line(v.sample)})", _values(v)))
    for j in decision.jobs:
        n = j.consecutive_errors
        risk = ("high" if n >= cfg.job_consecutive_errors and not j.handled else "medium"
                if n >= storm.half(cfg.job_consecutive_errors) else "low")
        findings.append(Finding("cron", f"job:{j.job_id}", risk,
                                f"cron job {j.name} ({j.job_id}): {n} consecutive errors"
                                + (" (already frozen for these)" if j.handled else "")
                                + f"; last: {_line(j.last_error or '')}", _values(j)))
    for r in reads:
        if r.status == ABSENT:
            findings.append(Finding("sources", r.name, "none", "; ".join(r.notes), r.as_dict()))
        elif r.status == FAILED:
            findings.append(Finding("sources", r.name, "low", "; ".join(r.notes), r.as_dict()))
        else:
            notes += [f"{r.name}: {n}" for n in r.notes]
        if r.bad_lines:
            notes.append(f"{r.name}: skipped {r.bad_lines} line(s) that were not valid UTF-8 "
                         "JSON")
    if overlapped:
        notes.append("another retry-storm run committed while this one read; its reading was "
                     "dropped so nothing is counted twice")
    summary = _summary(decision, actions, freezes, now)
    top = decision.top[0].count if decision.top else 0
    warn = storm.half(cfg.threshold)
    perf = {"new_events": str(decision.new_events),
            "bytes_read": f"{sum(r.bytes_read for r in reads)}B",
            "top_count": f"{top};{warn};{cfg.threshold}",
            "frozen_scopes": str(sum(1 for r in freezes.values() if active(r, now)))}
    data = {"level": decision.level, "now": now, "now_iso": iso(now),
            "window_s": cfg.window_s, "threshold": cfg.threshold,
            "job_consecutive_errors": cfg.job_consecutive_errors,
            "new_events": decision.new_events, "stale_events": decision.stale_events,
            "bytes_read": sum(r.bytes_read for r in reads),
            "sources": [r.as_dict() for r in reads],
            "fingerprints": [_values(v) for v in decision.top],
            "jobs": [_values(j) for j in decision.jobs], "actions": actions,
            "freezes": freezes, "held": [_values(h) for h in decision.held],
            "overlapped": overlapped, "dry_run": ctx.dry_run}
    report = check_report(NAME, findings, summary, perf, data)
    report.notes = notes
    return report


def _line(text: str, limit: int = 160) -> str:
    """One line for plain output (journald): whitespace collapsed, cut with an ellipsis."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[:limit - 1] + "…"


def _values(obj: Any) -> dict[str, Any]:
    from dataclasses import asdict

    return asdict(obj)


def _action_finding(act: dict[str, Any]) -> Finding:
    scope, outcome = act["scope"], act["outcome"]
    if act["action"] == "unfreeze":
        verb = "would lift" if outcome == "dry_run" else "lifted"
        return Finding("chain", f"resolved:{scope}", "none",
                       f"{verb} the freeze ({scope}): {act['reason']}", act)
    if outcome == "done":
        text = f"chain FROZEN ({scope}) until {act['until_at']}: {act['reason']}"
    elif outcome == "needs_approval":
        text = (f"storm on {scope}: freeze HELD for approval {act['approval_id']} "
                f"({act['explanation']}); NOT applied. `ctoops approvals approve "
                f"{act['approval_id']} --reason ...` applies it")
    elif outcome == "dry_run":
        text = f"would freeze ({scope}) for {act['duration_s']:g} s: {act['reason']}"
    else:
        text = f"freeze of {scope} refused: {act['explanation']}"
    return Finding("chain", f"{act['action']}:{scope}", "high", text, act)


def _summary(decision: storm.StormDecision, actions: list[dict[str, Any]],
             freezes: dict[str, Any], now: float) -> str:
    open_ = {s: r for s, r in freezes.items() if active(r, now)}
    held = [a for a in actions if a["outcome"] == "needs_approval"] + list(decision.held)
    top = decision.top[0] if decision.top else None
    lead = f"{decision.new_events} new error event(s)"
    if top is not None:
        lead += f"; top {top.count} x '{_line(top.template, 80)}'"
    if open_:
        parts = [f"{s} until {r.get('until_at')}" for s, r in sorted(open_.items())]
        return f"STORM: chain frozen ({', '.join(parts)}); {lead}"
    if held:
        return f"STORM: freeze held for approval; {lead}"
    if decision.level == "storm":
        return f"STORM: {lead}"
    resolved = [a["scope"] for a in actions if a["action"] == "unfreeze"]
    if resolved:
        return f"resolved: freeze lifted ({', '.join(resolved)}); {lead}"
    return f"{decision.level}: {lead}"
