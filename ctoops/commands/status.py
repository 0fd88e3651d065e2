"""`ctoops status`: what the guardrails would say right now, per subsystem.

Read under the lock (so a corrupt state is quarantined here too, and expired
intents are resolved), changed only by that housekeeping.
"""

from __future__ import annotations

from typing import Any

from ctoops.audit import iso
from ctoops.context import Context
from ctoops.policy import flags, guardrails
from ctoops.report import Finding, check_report


def _left(until: float | None, now: float) -> float:
    return max(0.0, (until or now) - now)


def run(ctx: Context) -> Any:
    cfg = ctx.config.guardrails
    with ctx.store().transaction() as tx:
        state, now = tx.state, tx.now
        history = tx.history()
    findings: list[Finding] = []
    restarts, restart_reopen = guardrails.restart_budget(history, cfg, now)
    critical, kill_reopen = guardrails.kill_switch_count(history, cfg, now)
    subsystems: dict[str, Any] = {}
    for event in state["history"]:
        sub = subsystems.setdefault(event["subsystem"], {"last_action": None})
        sub["last_action"] = {"action": event["action"], "ts": event["ts"],
                              "at": iso(event["ts"]), "outcome": event.get("outcome")}
    for name, sub in subsystems.items():
        count, reopen = guardrails.medium_cooldown(history, name, cfg, now)
        sub["medium_actions_in_window"] = count
        sub["cooldown_left_s"] = (round(_left(reopen, now), 1)
                                  if count >= cfg.medium_actions_per_window else 0.0)
    pending = [a for a in state["approvals"].values() if a.get("status") == "pending"]
    active_flags = {k: v for k, v in state["flags"].items() if flags.active(v, now)}
    active_freezes = {k: v for k, v in state["freezes"].items() if flags.active(v, now)}
    budget_left = max(0, cfg.restarts_per_window - restarts)
    findings.append(Finding(
        "gateway", "restart_budget", "medium" if budget_left == 0 else "none",
        f"{budget_left} of {cfg.restarts_per_window} restarts left in the "
        f"{cfg.restart_window_s:g} s window" + (
            f" (next at {iso(restart_reopen)})" if budget_left == 0 and restart_reopen else ""),
        {"restarts_in_window": restarts, "restarts_left": budget_left}))
    findings.append(Finding(
        "guardrails", "kill_switch",
        "medium" if cfg.kill_switch_enabled and critical >= cfg.kill_critical_retries else "none",
        f"{critical} of {cfg.kill_critical_retries} critical actions in the "
        f"{cfg.kill_switch_window_ms / 1000:g} s window"
        + ("" if cfg.kill_switch_enabled else " (kill-switch DISABLED)"),
        {"critical_in_window": critical, "enabled": cfg.kill_switch_enabled,
         "reopens_at": kill_reopen}))
    for name, sub in sorted(subsystems.items()):
        last = sub["last_action"]
        findings.append(Finding(name, "last_action", "none",
                                f"last {last['action']} at {last['at']} ({last['outcome']}); "
                                f"cooldown left {sub['cooldown_left_s']:g} s", sub))
    for a in pending:
        findings.append(Finding(a["subsystem"], "needs_approval", "medium",
                                f"{a['id']}: {a['action']} held ({a.get('held_by')}) since "
                                f"{a['requested_at']}: {a['reason']} -- `ctoops approvals "
                                f"approve {a['id']} --reason ...` or `deny`", a))
    for name, rec in active_flags.items():
        findings.append(Finding(rec.get("subsystem", "resources"), f"flag:{name}",
                                rec.get("risk", "medium"),
                                f"{name} since {iso(float(rec.get('since', now)))}: "
                                f"{rec.get('reason', '')}", rec))
    for scope, rec in active_freezes.items():
        until = rec.get("until")
        findings.append(Finding("chain", f"freeze:{scope}", "medium",
                                f"chain execution frozen ({scope}) until "
                                f"{iso(float(until)) if until else 'cleared'}: "
                                f"{rec.get('reason', '')}", rec))
    if state["safe_mode"]:
        sm = state["safe_mode"]
        findings.append(Finding("state", "safe_mode", "high",
                                f"SAFE MODE since {sm.get('at')}: {sm.get('reason')} "
                                f"(quarantined {sm.get('quarantined')}); destructive actions "
                                "are held. Leave with `ctoops safe-mode leave --reason ...`",
                                sm))
    open_reviews = [r for r in state["review_events"] if r.get("status") == "open"]
    if open_reviews:
        findings.append(Finding("review", "open_reviews", "low",
                                f"{len(open_reviews)} open review event(s); newest: "
                                f"{open_reviews[-1]['summary']}",
                                {"count": len(open_reviews)}))
    summary = (f"restarts left {budget_left}/{cfg.restarts_per_window}, "
               f"pending approvals {len(pending)}, flags {sorted(active_flags) or 'none'}, "
               f"freezes {sorted(active_freezes) or 'none'}"
               + (", SAFE MODE" if state["safe_mode"] else ""))
    data = {"now": now, "now_iso": iso(now), "safe_mode": state["safe_mode"],
            "restart_budget": {"used": restarts, "limit": cfg.restarts_per_window,
                               "left": budget_left, "window_s": cfg.restart_window_s,
                               "reopens_at": restart_reopen},
            "kill_switch": {"enabled": cfg.kill_switch_enabled, "count": critical,
                            "limit": cfg.kill_critical_retries,
                            "window_s": cfg.kill_switch_window_ms / 1000.0},
            "subsystems": subsystems, "pending_approvals": pending,
            "flags": active_flags, "freezes": active_freezes,
            "open_review_events": len(open_reviews),
            "intents_in_flight": list(state["intents"].values())}
    perf = {"restarts_left": str(budget_left), "pending_approvals": str(len(pending))}
    return check_report("status", findings, summary, perf, data)
