"""`ctoops safe-restart --reason TEXT [--auto]`: the guarded gateway restart (R7, R13).

Reserve (guardrails, budget, intent) in one short transaction, act without the
lock, complete in another. The restart itself is `gateway.restart_command` and
nothing else (R15).
"""

from __future__ import annotations

from typing import Any

from ctoops.actions.restart import log_step, run_command
from ctoops.context import Context
from ctoops.errors import EXIT_DONE, EXIT_FAILED, EXIT_NOPERM, EXIT_TEMPFAIL
from ctoops.policy.guardrails import NEEDS_APPROVAL, REFUSED, ActionRequest
from ctoops.report import Report

ACTION = "gateway_restart"


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


def execute(ctx: Context, req: ActionRequest, args: dict[str, Any]) -> Report:
    cfg = ctx.config
    log = ctx.workspace.restart_log
    with ctx.store().transaction() as tx:
        guarded = tx.request(req, args, lease_s=_lease_s(ctx), dry_run=ctx.dry_run)
        verdict = guarded.verdict
        if not ctx.dry_run and verdict.allowed:
            tx.decision(f"gateway restart reserved: {req.reason}", "high",
                        {"event_id": guarded.event_id})
    data: dict[str, Any] = {"verdict": verdict.as_dict(), "event_id": guarded.event_id,
                            "approval_id": guarded.approval_id, "auto": req.auto}
    if verdict.outcome == REFUSED:
        log_step(log, f"[refused] step 1 rate-limit: {verdict.explanation}")
        return Report("safe-restart", EXIT_TEMPFAIL, "refused", verdict.explanation, data=data)
    if verdict.outcome == NEEDS_APPROVAL:
        log_step(log, f"[held {guarded.approval_id}] step 1 rate-limit: {verdict.explanation}")
        return Report("safe-restart", EXIT_NOPERM, "needs_approval",
                      f"{verdict.explanation}; approval id {guarded.approval_id}", data=data)
    if ctx.dry_run:
        return Report("safe-restart", EXIT_DONE, "dry_run",
                      f"would run {cfg.gateway.restart_command} ({verdict.explanation})",
                      data=data)
    event_id = guarded.event_id or "?"
    log_step(log, f"[{event_id}] step 1 rate-limit: allowed ({verdict.explanation}); "
                  f"reason: {req.reason}")
    result = run_command(list(cfg.gateway.restart_command), cfg.gateway.restart_timeout_s)
    log_step(log, f"[{event_id}] step 6 restart: {result.argv} -> rc={result.returncode} "
                  f"in {result.duration_s:.1f} s {result.error}".rstrip())
    outcome = "done" if result.ok else "failed"
    details = {"returncode": result.returncode, "duration_s": round(result.duration_s, 3),
               "output_tail": result.output_tail[-1000:], "error": result.error}
    with ctx.store().transaction() as tx:
        tx.complete(event_id, outcome, details)
    data.update(restart=details)
    if not result.ok:
        return Report("safe-restart", EXIT_FAILED, "failed",
                      f"restart command failed: rc={result.returncode} {result.error}",
                      data=data)
    return Report("safe-restart", EXIT_DONE, "done", "gateway restarted", data=data)
