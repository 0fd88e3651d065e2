"""`ctoops check resources [--gateway-only] [--no-restart]` (R1, R8-R12).

The every-minute job, in the four steps: sense (host, PSI, gateway process and
cgroup, GPU), decide (policy/resources.py: levels with hysteresis, P1, P1b),
record (flag, review event, counters, audit, under the lock for milliseconds),
act (notices, the R6 confirmation, and the P1b safe restart, all after the lock).

`--gateway-only` reads just the gateway process and cgroup and judges only P1b:
it is what the runbook's `scripts/mc-resource-monitor.sh` hook runs. With
`--no-restart` a wanted restart is recorded and reported (JSON
`gateway.restart`) but left to the caller: the hook runs it through
`scripts/gateway-safe-restart.sh`, the runbook's only restart path (R7, R12).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from ctoops.clock import iso, monotonic_now
from ctoops.context import Context
from ctoops.errors import CtoopsError
from ctoops.policy import resources as policy
from ctoops.report import RISK_ORDER, Finding, Report, check_report
from ctoops.state import Transaction, audit_event

if TYPE_CHECKING:
    from ctoops.probes.process import GatewayProcess

NAME = "check resources"


# --- 1. sense ----------------------------------------------------------------------
def _remembered(ctx: Context) -> dict[str, Any] | None:
    """Where the previous run found the gateway process (an unlocked snapshot: the
    state file is only ever replaced whole). Only a hint: it is verified below."""
    try:
        mem = ctx.store().read()["commands"].get(NAME) or {}
    except (OSError, ValueError, CtoopsError):
        return None  # the transaction will say what is wrong with the state
    hint = (mem.get("gateway") or {}).get("process") if isinstance(mem, dict) else None
    return hint if isinstance(hint, dict) else None


def _gateway_process(ctx: Context, hint: dict[str, Any] | None
                     ) -> tuple[GatewayProcess | None, str]:
    """The gateway process and how it was found. Scanning every process costs
    ~0.1 ms each, every minute; the process found by name last run is taken again
    when it is still the same one (same PID, start time and name) and was looked up
    the same way (name and health port). With systemd, `systemctl show` stays the
    authority and nothing is remembered."""
    from ctoops.probes.process import describe, find_gateway, port_of, systemd_running

    g = ctx.config.gateway
    if hint and hint.get("key") == lookup_key(ctx) and not systemd_running():
        try:
            pid, created = int(hint["pid"]), float(hint["create_time"])
        except (KeyError, TypeError, ValueError):
            pid, created = 0, 0.0
        found = describe(pid, "name") if pid > 0 else None
        if found is not None and found.create_time == created and found.name == hint.get("name"):
            return found, "remembered"
    return find_gateway(g.unit, g.systemd_scope, g.process_name,
                        port_of(g.health_url)), "searched"


def lookup_key(ctx: Context) -> str:
    """What the remembered process was found by: its name and the health URL's port."""
    from ctoops.probes.process import port_of

    g = ctx.config.gateway
    return f"{g.process_name}@{port_of(g.health_url)}"


def sense(ctx: Context, gateway_only: bool) -> policy.Samples:
    from ctoops.probes.cgroup import locate, read_cgroup_memory

    cfg = ctx.config
    procfs, sysfs = Path(cfg.resources.procfs_path), Path(cfg.resources.sysfs_path)
    host = pressure = gpu = None
    if not gateway_only:
        from ctoops.probes.host import read_host
        from ctoops.probes.pressure import read_pressure

        host = read_host(ctx.workspace.root, procfs, sysfs)
        pressure = read_pressure(procfs / "pressure")
    g = cfg.gateway
    process, lookup = _gateway_process(ctx, _remembered(ctx))
    setting = g.cgroup.strip() or "auto"
    if setting != "auto":
        setting = str(ctx.workspace.path(setting))
    where = locate(setting, process.pid if process else None, procfs, sysfs / "fs" / "cgroup")
    cgroup, problem = None, where.problem
    if where.path is not None:
        try:
            cgroup = read_cgroup_memory(where.path)
        except (OSError, ValueError) as exc:
            problem = f"cannot read {where.path}: {getattr(exc, 'strerror', None) or exc}"
    if not gateway_only and cfg.resources.gpu_enabled:
        from ctoops.probes.gpu import read_gpus

        gpu = read_gpus(procfs=procfs)
    reading = policy.GatewayReading(process, cgroup, where.how, problem, lookup,
                                    lookup_key(ctx))
    return policy.Samples(host, pressure, reading, gpu)


# --- 2 + 4. decide and record (under the lock) ---------------------------------------
def record(tx: Transaction, d: policy.Decision, restart_by: str) -> None:
    tx.state["commands"][NAME] = d.memory
    for f in d.observed:  # R5/R28: a finding whose risk changed leaves one audit line
        tx.audit(audit_event(NAME, f.subsystem, f.risk, f"observe:{f.check}", "observed",
                             f.message, f.values))
    change = d.pressure
    if change is not None:
        flags = tx.state["flags"]
        old = flags.get(policy.FLAG) or {}
        if change.flag is None:
            flags.pop(policy.FLAG, None)
            tx.close_review(policy.REVIEW_KEY, change.reason)
            tx.audit(audit_event(NAME, "resources", "medium", f"clear_flag:{policy.FLAG}", "done",
                                 change.reason, {"values": change.values}, auto=True))
            tx.decision(f"P1 ended: {policy.FLAG} cleared, spawns allowed again", "medium",
                        {"values": change.values, "since": old.get("since")})
        else:
            rec = dict(change.flag)
            if change.transition == "enter":
                rec["review_id"] = tx.open_review(
                    policy.FLAG, "resources", change.reason, {"values": change.values},
                    key=policy.REVIEW_KEY)
            else:
                rec["review_id"] = old.get("review_id")
            flags[policy.FLAG] = rec
            if change.transition == "enter" or old.get("risk") != change.level:
                if change.transition == "enter":
                    verb = "set"
                elif RISK_ORDER[change.level] > RISK_ORDER.get(old.get("risk"), 0):
                    verb = "raise"
                else:
                    verb = "lower"
                tx.audit(audit_event(NAME, "resources", change.level, f"{verb}_flag:{policy.FLAG}",
                                     "done", change.reason,
                                     {"values": change.values, "blocks_spawn": True,
                                      "review_id": rec["review_id"]}, auto=True))
                tx.decision(f"P1 {verb}: {policy.FLAG} ({change.level}), spawns blocked",
                            change.level, {"values": change.values, "review_id": rec["review_id"]})
    if d.restart_reason:
        tx.audit(audit_event(NAME, "gateway", "high", "gateway_restart_wanted", "observed",
                             d.restart_reason, {"restart_by": restart_by}, auto=True))
        tx.decision("P1b: gateway safe restart wanted", "high",
                    {"reason": d.restart_reason, "restart_by": restart_by})


# --- 3. act (after the lock) ---------------------------------------------------------
def _notices(ctx: Context, d: policy.Decision, review_id: str | None) -> None:
    change = d.pressure
    if change is None:
        return
    from ctoops.actions.notify import Notice, dispatch, write_mc_output

    values = {k: ("-" if v is None else f"{v:.1f}%" if isinstance(v, float) else str(v))
              for k, v in change.values.items()}
    if change.flag is None:
        notice = Notice("resources", policy.FLAG, "medium", "Resource pressure resolved (P1)",
                        f"{change.reason}. New risky spawns are allowed again.",
                        condition=True, active=False, fields=values)
    else:
        notice = Notice("resources", policy.FLAG, change.level,
                        f"Resource pressure (P1): {change.level}",
                        f"{change.reason}. New risky spawns are blocked (`ctoops gate spawn`); "
                        f"review event {review_id}.", condition=True, active=True, fields=values)
    dispatch(ctx, [notice])
    if not ctx.dry_run and change.transition in ("enter", "clear"):
        now = ctx.clock.now()  # R6: the asynchronous confirmation of the medium action
        write_mc_output(ctx, {"type": "confirmation", "ts": now, "at": iso(now),
                              "command": NAME, "subsystem": "resources",
                              "action": f"{'set' if change.flag else 'clear'}_flag:{policy.FLAG}",
                              "outcome": "done", "risk": change.level, "reason": change.reason,
                              "review_id": review_id})


def _restart(ctx: Context, reason: str, restart: bool) -> dict[str, Any]:
    if ctx.dry_run:
        return {"status": "dry_run", "exit_code": None,
                "summary": "would ask for a guarded safe restart (nothing done: --dry-run)"}
    if not restart:
        return {"status": "left_to_caller", "exit_code": None,
                "summary": "recorded; the caller runs scripts/gateway-safe-restart.sh"}
    from ctoops.commands import safe_restart

    try:
        rep = safe_restart.run(ctx, reason, auto=True)
    except CtoopsError as exc:
        return {"status": "error", "exit_code": exc.exit_code, "summary": str(exc)}
    return {"status": rep.status, "exit_code": rep.exit_code, "summary": rep.summary,
            "data": rep.data}


# --- the command ---------------------------------------------------------------------
def run(ctx: Context, gateway_only: bool = False, restart: bool = True) -> Report:
    cfg = ctx.config.resources
    samples = sense(ctx, gateway_only)
    restart_by = "check resources" if restart else "caller (scripts/gateway-safe-restart.sh)"
    if ctx.dry_run:  # judge against the stored state, record nothing
        state = ctx.store().read()
        now = monotonic_now(ctx.clock.now(), float(state.get("latest_ts", 0.0)))
        decision = policy.decide(samples, state, cfg, now)
        review_id = None
    else:
        with ctx.store().transaction() as tx:
            decision = policy.decide(samples, tx.state, cfg, tx.now)
            record(tx, decision, restart_by)
            review_id = (tx.state["flags"].get(policy.FLAG) or {}).get("review_id")
    _notices(ctx, decision, review_id)
    findings = list(decision.findings)
    data = decision.data
    if decision.restart_reason:
        outcome = _restart(ctx, decision.restart_reason, restart)
        data["gateway"]["restart"]["outcome"] = outcome
        findings.append(Finding("gateway", "safe_restart", "high",
                                f"P1b safe restart: {outcome['status']} ({outcome['summary']})",
                                {"exit_code": outcome["exit_code"]}))
    if review_id and "resource_pressure" in data:
        data["resource_pressure"]["review_id"] = review_id
    data["gateway_only"] = gateway_only
    return check_report(NAME, findings, decision.summary, decision.perfdata, data)
