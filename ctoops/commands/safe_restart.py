"""`ctoops safe-restart --reason TEXT [--auto]`: the guarded gateway restart (R7, R13-R16).

The runbook's sequence, each step a line in logs/gateway-safe-restart.log and an
audit record:
  0 reserve (guardrails, budget, intent) and measure memory; 1 rate-limit verdict;
  2 prune dead cron runs; 3 remove .deleted/.corrupt leftovers; 4 notify;
  5 wait; 6 run `gateway.restart_command` (the only restart there is, R15);
  7 confirm /readyz, measure again, write the lesson (R14, R26), notify "back".
The workspace lock is held only inside the short transactions (reserve, one per
step's audit, complete), never across the slow steps, so a racing run is answered
at once: refused (75) while this restart is in flight, or by the budget (75) or
the kill-switch (77). `--dry-run` walks every step, saying what it would do, and
changes nothing but the dry-run audit record.
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ctoops.actions.notify import Notice, dispatch
from ctoops.actions.restart import log_step
from ctoops.audit import AuditEvent, append_lesson, iso
from ctoops.context import Context
from ctoops.errors import EXIT_DONE, EXIT_FAILED, EXIT_NOPERM, EXIT_TEMPFAIL
from ctoops.policy.guardrails import NEEDS_APPROVAL, REFUSED, ActionRequest, restart_budget
from ctoops.policy.restart import RestartFacts, human_bytes, lesson, restart_in_flight
from ctoops.report import Finding, Report
from ctoops.subproc import pid_exists, run_command

ACTION = "gateway_restart"
REASON_PLACEHOLDER = "{reason}"
READY_POLL_S = 0.5


def run(ctx: Context, reason: str, auto: bool) -> Report:
    req = ActionRequest(ACTION, "gateway", "high", reason, critical=True, restart=True,
                        auto=auto)
    return execute(ctx, req, {"reason": reason, "auto": auto})


def run_approved(ctx: Context, record: dict[str, Any], override_budget: bool) -> Report:
    req = ActionRequest(ACTION, "gateway", "high", record["reason"], critical=True,
                        restart=True, auto=bool(record.get("auto")), approved=True,
                        override_budget=override_budget)
    return execute(ctx, req, {**record.get("args", {}), "approval_id": record["id"],
                              "override_budget": override_budget})


def _lease_s(ctx: Context) -> float:
    g = ctx.config.gateway
    return (ctx.config.guardrails.intent_lease_s + g.restart_timeout_s + g.ready_timeout_s
            + g.settle_s + ctx.config.notify.restart_notice_delay_s)


def restart_argv(configured: list[str], reason: str) -> list[str]:
    """The configured argv; an element exactly "{reason}" becomes the reason, verbatim,
    as one argument. Nothing else is expanded and no shell is involved."""
    return [reason if arg == REASON_PLACEHOLDER else arg for arg in configured]


@dataclass
class _Steps:
    """Logs and audits each step as it ends (its own millisecond transaction)."""

    ctx: Context
    event_id: str
    reason: str
    auto: bool
    records: list[dict[str, Any]] = field(default_factory=list)
    current: str = "0 reserve"
    completed: bool = False  # the intent has its outcome

    def begin(self, number: int, name: str) -> None:
        self.current = f"{number} {name}"

    def end(self, number: int, name: str, status: str, summary: str,
            details: dict[str, Any] | None = None, subsystem: str = "gateway") -> None:
        record = {"step": number, "name": name, "status": status, "summary": summary,
                  "details": details or {}}
        self.records.append(record)
        if self.ctx.dry_run:
            return
        log_step(self.ctx.workspace.restart_log,
                 f"[{self.event_id}] step {number} {name}: {status} - {summary}")
        outcome = "failed" if status == "failed" else "done"
        with self.ctx.store().transaction() as tx:
            tx.audit(AuditEvent(self.ctx.command or "safe-restart", subsystem, "high",
                                f"restart_step_{number}_{name}", outcome, summary,
                                {"event_id": self.event_id, "status": status, **(details or {})},
                                self.auto))


def execute(ctx: Context, req: ActionRequest, args: dict[str, Any]) -> Report:
    cfg = ctx.config
    log = ctx.workspace.restart_log
    # --- 0/1 reserve: one restart at a time, the budget and the kill-switch ----------
    busy: dict[str, Any] | None = None
    with ctx.store().transaction() as tx:
        intents = tx.state["intents"]
        alive = {i["pid"]: pid_exists(i["pid"]) is not False for i in intents.values()
                 if isinstance(i.get("pid"), int)}
        busy = restart_in_flight(intents, ACTION, tx.now, alive)
        if busy is not None:
            why = (f"a gateway restart is already in progress ({busy['id']}, pid "
                   f"{busy.get('pid')}, since {iso(float(busy.get('reserved_ts', 0)))}); "
                   "try again when it has finished")
            tx.audit(AuditEvent(ctx.command, "gateway", "high", ACTION,
                                "dry_run" if ctx.dry_run else "refused",
                                f"{req.reason} -- {why}", {"in_flight": busy["id"],
                                                           "args": args}, req.auto))
        else:
            guarded = tx.request(req, args, lease_s=_lease_s(ctx), dry_run=ctx.dry_run)
            verdict = guarded.verdict
            if not ctx.dry_run and verdict.allowed:
                tx.decision(f"gateway restart reserved: {req.reason}", "high",
                            {"event_id": guarded.event_id})
            spent, _ = restart_budget(tx.history(), cfg.guardrails, tx.now)
    if busy is not None:
        if not ctx.dry_run:
            log_step(log, f"[refused] step 1 rate-limit: {why}")
        return Report("safe-restart", EXIT_TEMPFAIL, "refused", why,
                      data={"in_flight": busy["id"], "auto": req.auto})
    data: dict[str, Any] = {"verdict": verdict.as_dict(), "event_id": guarded.event_id,
                            "approval_id": guarded.approval_id, "auto": req.auto,
                            "dry_run": ctx.dry_run}
    if verdict.outcome == REFUSED:
        if not ctx.dry_run:
            log_step(log, f"[refused] step 1 rate-limit: {verdict.explanation}")
        return Report("safe-restart", EXIT_TEMPFAIL, "refused", verdict.explanation, data=data)
    if verdict.outcome == NEEDS_APPROVAL:
        if not ctx.dry_run:
            log_step(log, f"[held {guarded.approval_id}] step 1 rate-limit: "
                          f"{verdict.explanation}")
        held = (f"approval id {guarded.approval_id}" if guarded.approval_id else
                "dry run: it would be held for approval")
        return Report("safe-restart", EXIT_NOPERM, "needs_approval",
                      f"{verdict.explanation}; {held}", data=data)
    steps = _Steps(ctx, guarded.event_id or "dry-run", req.reason, req.auto)
    try:
        return _act(ctx, req, steps, spent, data)
    except BaseException as exc:
        if not ctx.dry_run and guarded.event_id and not steps.completed:
            log_step(log, f"[{steps.event_id}] step {steps.current}: failed - "
                          f"{type(exc).__name__}: {exc}")
            with ctx.store().transaction() as tx:
                tx.complete(guarded.event_id, "failed", {
                    "failed_step": steps.current, "error": f"{type(exc).__name__}: {exc}",
                    "steps": [f"{r['step']} {r['name']}: {r['status']}" for r in steps.records]})
        raise


def _act(ctx: Context, req: ActionRequest, steps: _Steps, spent: int,
         data: dict[str, Any]) -> Report:
    """Steps 0-7 after the reservation; slow work, no lock held."""
    from ctoops.actions.cleanup import CleanupResult, remove_leftovers
    from ctoops.actions.dead_runs import DeadRunsStep, prune_dead_runs
    from ctoops.actions.gateway_memory import measure

    cfg, g, dry = ctx.config, ctx.config.gateway, ctx.dry_run
    # Relative settings are relative to the workspace; an empty one stays empty
    # (prune and cleanup then do nothing, never "everything").
    state_dir = str(ctx.workspace.path(g.state_dir)) if g.state_dir.strip() else ""
    before = measure(g)
    steps.end(0, "reserve", "dry_run" if dry else "done",
              f"memory before: {_mem_words(before.as_dict())}", {"memory": before.as_dict()})
    number = spent + 1 if dry else spent  # a dry run spends no budget
    budget = f"restart {number} of {cfg.guardrails.restarts_per_window} in " \
             f"{cfg.guardrails.restart_window_s:g} s"
    steps.end(1, "rate_limit", "dry_run" if dry else "done",
              f"allowed ({budget}); reason: {req.reason}", {"restarts_in_window": spent})

    # Steps 2-4 prepare; a crash in one is recorded and the restart still happens,
    # because the restart is what relieves the memory pressure.
    steps.begin(2, "prune")
    try:
        pruned = prune_dead_runs(cfg, state_dir, ctx.clock.now() * 1000.0, dry)
    except Exception as exc:
        pruned = DeadRunsStep("unknown", "failed", f"the prune crashed: {_error(exc)}")
    steps.end(2, "prune", pruned.status, pruned.summary, pruned.as_dict(), "sessions")

    steps.begin(3, "cleanup")
    try:
        leftovers = remove_leftovers(state_dir, dry, exclude=ctx.workspace.root)
    except Exception as exc:
        leftovers = CleanupResult("failed", f"the cleanup crashed: {_error(exc)}")
    steps.end(3, "cleanup", "dry_run" if dry else "done" if leftovers.status == "nothing"
              else leftovers.status, leftovers.reason,
              leftovers.as_dict(), "sessions")

    steps.begin(4, "notify")
    channel = cfg.notify.discord.channel
    delay = cfg.notify.restart_notice_delay_s
    coming = Notice("gateway", "restart_coming", "high", f"Gateway restart in {delay:g} s",
                    f"#{channel}: restarting {g.unit} on {socket.gethostname()}: {req.reason}. "
                    f"Memory now {_mem_words(before.as_dict())}. {pruned.summary}. "
                    f"Leftovers: {leftovers.reason}. {budget}.",
                    fields={"reason": req.reason, "event": steps.event_id,
                            "auto": str(req.auto).lower()})
    sent = "" if dry else _notify(ctx, coming)
    steps.end(4, "notify", "dry_run" if dry else "done" if sent else "failed",
              f"would tell #{channel}: {coming.title}" if dry else
              f"#{channel}: {sent or 'not delivered'}", {"channel": channel})

    steps.begin(5, "wait")
    if not dry:
        time.sleep(delay)
    steps.end(5, "wait", "dry_run" if dry else "done", f"{delay:g} s for the notice to land")

    steps.begin(6, "restart")
    argv = restart_argv(list(g.restart_command), req.reason)
    if dry:
        steps.end(6, "restart", "dry_run", f"would run {argv} (timeout {g.restart_timeout_s:g} s)")
        steps.end(7, "confirm", "dry_run",
                  f"would poll {g.health_url}/readyz for up to {g.ready_timeout_s:g} s, settle "
                  f"{g.settle_s:g} s, measure memory, write memory/lessons.md, notify 'back'")
        data.update(steps=steps.records, prune=pruned.as_dict(), cleanup=leftovers.as_dict())
        return Report("safe-restart", EXIT_DONE, "dry_run",
                      f"would restart the gateway with {argv}: {pruned.summary}; "
                      f"{leftovers.reason}", _findings(steps.records), data=data)
    started = time.monotonic()
    result = run_command(argv, g.restart_timeout_s)
    restart = {"argv": result.argv, "returncode": result.returncode,
               "duration_s": round(result.duration_s, 3), "error": result.error,
               "output_tail": result.output_tail[-1000:]}
    steps.end(6, "restart", "done" if result.ok else "failed",
              f"rc={result.returncode} in {result.duration_s:.1f} s {result.error}".rstrip(),
              restart)
    return _confirm(ctx, req, steps, before.as_dict(), pruned, leftovers, restart, started, data)


def _confirm(ctx: Context, req: ActionRequest, steps: _Steps, before: dict[str, Any],
             pruned: Any, leftovers: Any, restart: dict[str, Any], started: float,
             data: dict[str, Any]) -> Report:
    """Step 7: ready? memory after, the lesson, the outcome, the "back" notice."""
    from ctoops.actions.gateway_memory import measure
    from ctoops.probes.health import probe_gateway, wait_ready

    cfg, g = ctx.config, ctx.config.gateway
    steps.begin(7, "confirm")
    after: dict[str, Any] | None = None
    stuck: dict[str, Any] = {"checked": 0, "stuck": None}
    ready, waited = False, None
    if restart["returncode"] == 0:
        ready, waited, last = wait_ready(g.health_url, g.ready_timeout_s, g.probe_timeout_s,
                                         READY_POLL_S)
        if ready:
            time.sleep(g.settle_s)
            after = measure(g).as_dict()
        stuck = pruned.stuck()
    else:
        last = probe_gateway(g.health_url, g.probe_timeout_s)
    failed_step = None if ready else ("6 restart" if restart["returncode"] != 0 else "7 confirm")
    outcome = "done" if failed_step is None else "failed"
    uptime_ms = (last.ready.body.get("uptimeMs") if last is not None else None)
    fresh = _fresh(before, after, uptime_ms, time.monotonic() - started)
    stuck_words = ("no prune to check" if not stuck["checked"] else
                   "the prune held" if stuck["stuck"] else f"entries came back: {stuck}")
    facts = RestartFacts(steps.event_id, req.reason, req.auto, outcome, failed_step, before,
                         after, ready, waited, g.settle_s, pruned.summary, stuck_words,
                         leftovers.reason)
    title, body, numbers = lesson(facts, cfg.restart.expected_reduction_min_pct,
                                  cfg.restart.expected_reduction_max_pct)
    if fresh:
        body += f"\n- note: {fresh}"
    confirm = {"ready": ready, "waited_s": waited, "memory_after": after, "prune_check": stuck,
               "numbers": numbers, "fresh_process": fresh or "yes"}
    steps.end(7, "confirm", "done" if ready else "failed",
              f"{'ready' if ready else 'NOT ready'}; {title}", confirm)
    details = {"failed_step": failed_step, "restart": restart, "numbers": numbers,
               "prune_stuck": stuck.get("stuck"),
               "steps": [f"{r['step']} {r['name']}: {r['status']}" for r in steps.records]}
    with ctx.store().transaction() as tx:
        tx.complete(steps.event_id, outcome, details)
        append_lesson(ctx.workspace, title, body, tx.now)
        tx.decision(title, "high", {"event_id": steps.event_id, **numbers})
        tx.state["commands"]["safe-restart"] = {"last": {
            "event_id": steps.event_id, "at": iso(tx.now), "outcome": outcome,
            "failed_step": failed_step, **numbers}}
    steps.completed = True
    back = Notice("gateway", "restart_back" if ready else "restart_failed",
                  "low" if ready else "high", title, body, urgent=not ready,
                  fields={"event": steps.event_id})
    _notify(ctx, back)
    problems = [f"{r['step']} {r['name']}" for r in steps.records
                if r["status"] == "failed" and r["step"] < 6]
    data.update(steps=steps.records, prune=pruned.as_dict(), cleanup=leftovers.as_dict(),
                restart=restart, confirm=confirm, lesson={"title": title, "body": body},
                outcome=outcome, failed_step=failed_step, step_problems=problems)
    also = f" (problems at step {', '.join(problems)})" if problems else ""
    if failed_step:
        return Report("safe-restart", EXIT_FAILED, "failed",
                      f"failed at step {failed_step}: {title}{also}", _findings(steps.records),
                      data=data)
    return Report("safe-restart", EXIT_DONE, "done", title + also, _findings(steps.records),
                  data=data)


def _findings(records: list[dict[str, Any]]) -> list[Finding]:
    """One line per step for the plain and TTY output (the JSON has `steps`)."""
    return [Finding("gateway", f"step {r['step']} {r['name']}",
                    "high" if r["status"] == "failed" else "none",
                    f"{r['status']}: {r['summary']}") for r in records]


def _error(exc: BaseException) -> str:
    """A crash as one line, with where it happened (the traceback's last frame)."""
    import traceback

    frames = traceback.extract_tb(exc.__traceback__)
    where = f" at {Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else ""
    return f"{type(exc).__name__}: {exc}{where}"


def _notify(ctx: Context, notice: Notice) -> str:
    """Send outside any lock; a channel failure is recorded, never fatal."""
    try:
        sent = [d.channel for d in dispatch(ctx, [notice]) if d.delivered]
    except Exception as exc:
        ctx.warn(f"notice {notice.kind} not sent: {type(exc).__name__}: {exc}")
        return ""
    return ", ".join(c for c in sent if c)


def _mem_words(reading: dict[str, Any]) -> str:
    if not reading.get("found") and reading.get("cgroup_usage_bytes") is None:
        return f"unavailable ({reading.get('error')})"
    parts = []
    if reading.get("tree_rss_bytes") is not None:
        parts.append(f"{human_bytes(reading['tree_rss_bytes'])} tree RSS (pid {reading['pid']})")
    if reading.get("cgroup_usage_bytes") is not None:
        parts.append(f"{human_bytes(reading['cgroup_usage_bytes'])} in the cgroup")
    return ", ".join(parts)


def _fresh(before: dict[str, Any], after: dict[str, Any] | None, uptime_ms: Any,
           elapsed_s: float) -> str:
    """Empty when the gateway answering is a new process; else what looks old."""
    if after and before.get("pid") and (before.get("pid"), before.get("create_time")) == (
            after.get("pid"), after.get("create_time")):
        return f"the same process (pid {after.get('pid')}) answered after the restart"
    if isinstance(uptime_ms, (int, float)) and uptime_ms / 1000.0 > elapsed_s + 5:
        return (f"/readyz reports {uptime_ms / 1000.0:.0f} s of uptime, longer than the "
                f"restart ago ({elapsed_s:.0f} s): it may not have restarted")
    return ""
