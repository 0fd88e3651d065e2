"""`ctoops zombie-report`: detect a hung gateway, alert, keep the trail, escalate (P4).

Sense (no lock): systemd's view of the unit, the process, /healthz + /readyz, the
gateway's liveness lease and its log's freshness. Decide (under the lock, pure):
the verdict, the consecutive-failure count, whether an incident opens or resolves.
Act (no lock): the urgent alert (R22), then the trail into
logs/incidents/<id>/ (R23). Record (under the lock): the alert and the bundle in
the audit log, and only then, when the bundle was written, the escalation (R24):
a safe restart held for a person, or, with `zombie.auto_restart_zombie`, a guarded
safe restart. A persisting zombie is one incident: it is not re-alerted (except a
reminder every `notify.repeat_interval_s`), re-collected or re-escalated per run.
"""

from __future__ import annotations

import copy
import dataclasses
import socket
import uuid
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ctoops.audit import AuditEvent, iso
from ctoops.context import Context
from ctoops.policy import zombie as policy
from ctoops.policy.guardrails import ActionRequest
from ctoops.probes import process as process_probe
from ctoops.probes.gateway_log import read_freshness
from ctoops.probes.health import probe_gateway
from ctoops.probes.openclaw.owner_lease import OwnerLease, process_start_ticks, read_owner_lease
from ctoops.probes.systemd import UnitStatus, read_unit
from ctoops.report import Finding, Report, check_report

if TYPE_CHECKING:
    from ctoops.actions.incident import BundleResult
    from ctoops.actions.notify import Delivery, Notice
    from ctoops.state import Transaction

KEY = "zombie-report"
MAX_CLOSED = 20


# --- sense --------------------------------------------------------------------
def sense(ctx: Context) -> policy.Observation:
    g = ctx.config.gateway
    unit = read_unit(g.unit, g.systemd_scope)
    lease = read_owner_lease(ctx.workspace.path(g.state_dir))
    found = _find_process(unit, lease, g.process_name, urlsplit(g.health_url).port)
    health = probe_gateway(g.health_url, g.probe_timeout_s)
    log = read_freshness(ctx.workspace.path(g.log_dir))
    return policy.Observation(unit, found, health, lease, log)


def _find_process(unit: UnitStatus, lease: OwnerLease, name: str, port: int | None
                  ) -> process_probe.GatewayProcess | None:
    """systemd's MainPID, else the lease's owner (same host, same start time, so a
    recycled PID is not mistaken for it), else by name (preferring the health port)."""
    if unit.known and unit.main_pid:
        found = process_probe.describe(unit.main_pid, "systemd")
        if found is not None:
            return found
    if lease.status == "ok" and lease.pid and lease.host in ("", socket.gethostname()):
        ticks = process_start_ticks(lease.pid)
        if ticks is not None and lease.started_at_ticks in (None, ticks):
            found = process_probe.describe(lease.pid, "lease")
            if found is not None:
                return found
    hit = process_probe.find_by_name_on_port(name, port)
    return process_probe.describe(hit[0], hit[1]) if hit else None


def _restart_in_flight(state: dict[str, Any]) -> str | None:
    for intent_id, intent in state["intents"].items():
        if intent.get("action") == "gateway_restart":
            return str(intent_id)
    return None


# --- run: decide and record, act, record ------------------------------------------
def run(ctx: Context) -> Report:
    cfg = ctx.config
    obs = sense(ctx)
    with ctx.store().transaction() as tx:
        memory = tx.state["commands"].setdefault(KEY, {})
        if ctx.dry_run:
            memory = copy.deepcopy(memory)
        decision = policy.decide(obs, memory, cfg.zombie, tx.now, _restart_in_flight(tx.state),
                                 cfg.notify.repeat_interval_s)
        closed = _record_decision(ctx, tx, memory, decision, obs)
        snapshot = copy.deepcopy(tx.state) if decision.collect_bundle else {}
        incident = copy.deepcopy(memory.get("incident"))
    actions: dict[str, Any] = {}
    if ctx.dry_run:
        actions["dry_run"] = _would(decision)
    else:
        actions = _act(ctx, obs, decision, incident, closed, snapshot)
    return _report(ctx, decision, incident or closed, actions)


def _record_decision(ctx: Context, tx: Transaction, memory: dict[str, Any],
                     decision: policy.ZombieDecision, obs: policy.Observation
                     ) -> dict[str, Any] | None:
    """Under the lock: the new memory, state changes, an incident opened or closed.
    Returns the incident this run closed, if any."""
    previous = memory.get("last_state")
    memory.update(decision.memory)
    if ctx.dry_run:
        return None
    why = "; ".join(decision.reasons)
    if previous != decision.state:
        tx.audit(AuditEvent(ctx.command, "gateway", decision.risk, "gateway_state", "observed",
                            f"gateway {previous or 'unknown'} -> {decision.state}: {why}",
                            {"streak": decision.streak}, ctx.is_auto))
        tx.decision(f"gateway {decision.state}: {why}", decision.risk, {"streak": decision.streak})
    if decision.open_incident:
        stamp = iso(tx.now)[:19].replace("-", "").replace(":", "")
        incident_id = f"inc-{stamp}Z-{uuid.uuid4().hex[:6]}"
        incident = policy.new_incident(incident_id, decision, obs, tx.now, iso(tx.now))
        memory["incident"] = incident
        tx.audit(AuditEvent(ctx.command, "gateway", "high", "incident_open", "observed",
                            f"{incident_id}: gateway {decision.state}: {why}",
                            {"incident_id": incident_id, "pid": incident["pid"]}, ctx.is_auto))
        tx.decision(f"zombie incident {incident_id} opened", "high", {"reasons": decision.reasons})
        tx.open_review("zombie_incident", "gateway", f"{incident_id}: gateway {decision.state}",
                       {"reasons": list(decision.reasons)}, key=incident_id)
    if not decision.resolve_incident:
        return None
    incident = memory.pop("incident")
    incident.update(status="closed", closed_ts=tx.now, closed_at=iso(tx.now))
    memory["closed"] = [*memory.get("closed", []), incident][-MAX_CLOSED:]
    _withdraw_held_restart(ctx, tx, incident)
    tx.close_review(incident["id"], "gateway healthy again")
    tx.audit(AuditEvent(ctx.command, "gateway", "low", "incident_resolved", "done",
                        f"{incident['id']}: gateway healthy again", {"incident_id": incident["id"]},
                        ctx.is_auto))
    tx.decision(f"zombie incident {incident['id']} resolved", "low", {})
    return incident


def _withdraw_held_restart(ctx: Context, tx: Transaction, incident: dict[str, Any]) -> None:
    """A restart still waiting for approval is moot once the gateway is healthy:
    ctoops itself denies it, so nobody approves a restart of a healthy gateway."""
    approval_id = (incident.get("escalation") or {}).get("approval_id")
    record = tx.state["approvals"].get(approval_id) if approval_id else None
    if record is None or record.get("status") != "pending":
        return
    why = f"withdrawn by ctoops: {incident['id']} resolved, the gateway is healthy again"
    record.update(status="denied", decided_by="ctoops", decided_ts=tx.now,
                  decided_at=iso(tx.now), decision_reason=why)
    tx.audit(AuditEvent(ctx.command, "gateway", "high", "gateway_restart", "denied", why,
                        {"approval_id": approval_id, "incident_id": incident["id"]}))


# --- act ------------------------------------------------------------------------
def _act(ctx: Context, obs: policy.Observation, decision: policy.ZombieDecision,
         incident: dict[str, Any] | None, closed: dict[str, Any] | None,
         snapshot: dict[str, Any]) -> dict[str, Any]:
    """Slow work outside the lock; imported here, so a healthy run never loads it."""
    from ctoops.actions.notify import dispatch

    actions: dict[str, Any] = {}
    if closed is not None:
        actions["resolved"] = _deliveries(dispatch(ctx, [_notice(closed, decision, active=False)]))
    if incident is None:
        return actions
    deliveries = dispatch(ctx, [_notice(incident, decision)]) if decision.send_alert else None
    bundle = _collect(ctx, obs, incident, snapshot) if decision.collect_bundle else None
    if deliveries is None and bundle is None \
            and policy.escalation_for(incident, ctx.config.zombie) is None:
        return actions
    with ctx.store().transaction() as tx:
        current = tx.state["commands"].get(KEY, {}).get("incident")
        if current is None or current.get("id") != incident["id"]:
            ctx.warn(f"incident {incident['id']} was closed by another run meanwhile")
            return actions
        escalation = _record_actions(ctx, tx, current, deliveries, bundle)
        incident.update(copy.deepcopy(current))
    actions.update(alert=_deliveries(deliveries) if deliveries is not None else None,
                   bundle=dataclasses.asdict(bundle) if bundle else None, escalation=escalation)
    if escalation and escalation.get("kind") == "auto_restart":
        actions["restart"] = _auto_restart(ctx, incident)
    return actions


def _notice(incident: dict[str, Any], decision: policy.ZombieDecision,
            active: bool = True) -> Notice:
    from ctoops.actions.notify import Notice

    host = socket.gethostname()
    if active:
        title = f"Gateway {incident['state']} on {host} ({incident['id']})"
        body = "; ".join(decision.reasons)
    else:
        title = f"Resolved: gateway healthy again on {host} ({incident['id']})"
        body = f"incident opened {incident.get('opened_at')} is closed"
    return Notice("gateway", f"zombie:{incident['id']}", "high" if active else "low", title, body,
                  condition=True, active=active, urgent=active,
                  fields={"incident": incident["id"], "host": host,
                          "bundle": f"logs/incidents/{incident['id']}"})


def _deliveries(deliveries: list[Delivery]) -> list[dict[str, Any]]:
    return [dataclasses.asdict(d) for d in deliveries]


def _collect(ctx: Context, obs: policy.Observation, incident: dict[str, Any],
             snapshot: dict[str, Any]) -> BundleResult:
    from ctoops.actions import incident as trail_io

    cfg, g = ctx.config, ctx.config.gateway
    budget = cfg.zombie.bundle_max_bytes
    trail = trail_io.Trail()
    for name, (part, why) in (
            ("journal", trail_io.journal_part(g.unit, g.systemd_scope, cfg.zombie.journal_lines,
                                              budget, trail_io.JOURNAL_DIR)),
            ("gateway_log", trail_io.gateway_log_part(ctx.workspace.path(g.log_dir),
                                                      cfg.zombie.journal_lines, budget))):
        if part is not None:
            trail.parts.append(part)
        if why:
            trail.missing[name] = why
    board, why = trail_io.board_in_progress(ctx.workspace.path(cfg.sessions.board_path))
    if why:
        trail.missing["mc_board"] = why
    trail.parts += [
        trail_io.json_part("probes.json", {"at": iso(ctx.clock.now()),
                                           **dataclasses.asdict(obs)}),
        trail_io.json_part("process.json", trail_io.process_details(
            obs.process.pid if obs.process else None)),
        trail_io.json_part("mc-state.json", {"board": board,
                                             "ctoops": trail_io.ctoops_state_summary(snapshot)}),
    ]
    summary = trail_io.summary_markdown(incident, socket.gethostname(), g.unit, g.health_url,
                                        cfg.zombie.auto_restart_zombie)
    return trail_io.write_bundle(ctx.workspace.incidents_dir, incident["id"], trail, summary,
                                 budget)


def _record_actions(ctx: Context, tx: Transaction, incident: dict[str, Any],
                    deliveries: list[Delivery] | None, bundle: BundleResult | None
                    ) -> dict[str, Any] | None:
    """Under the lock, in this order: the alert, the bundle (its audit line names
    the folder), then the escalation, which exists only when the bundle does (R24)."""
    iid = incident["id"]
    if deliveries is not None:
        sent = [d.channel for d in deliveries if d.delivered]
        incident["alert"] = {"last_sent_ts": tx.now, "channels": sent}
        tx.audit(AuditEvent(ctx.command, "gateway", "high", "incident_alert",
                            "alerted" if sent else "failed",
                            f"{iid}: urgent alert " + (f"via {sent}" if sent else "not delivered"),
                            {"incident_id": iid, "deliveries": _deliveries(deliveries)},
                            ctx.is_auto))
    if bundle is not None:
        rel = f"logs/incidents/{iid}"
        if bundle.ok:
            incident.update(bundle={"path": rel, "total_bytes": bundle.total_bytes,
                                    "files": bundle.files, "missing": bundle.missing},
                            bundle_error=None)
        else:
            incident.update(bundle_error=bundle.error,
                            bundle_attempts=int(incident.get("bundle_attempts", 0)) + 1)
        tx.audit(AuditEvent(ctx.command, "gateway", "high", "incident_bundle",
                            "done" if bundle.ok else "failed",
                            f"{iid}: trail written to {rel}" if bundle.ok else
                            f"{iid}: trail NOT written ({bundle.error}); no escalation",
                            {"incident_id": iid, "path": rel, "files": bundle.files,
                             "total_bytes": bundle.total_bytes, "missing": bundle.missing,
                             "truncated": list(bundle.truncated)}, ctx.is_auto))
    kind = policy.escalation_for(incident, ctx.config.zombie)
    if kind is None:
        return None
    reason = f"{iid}: gateway {incident['state']} (trail in logs/incidents/{iid})"
    if kind == "auto_restart":
        incident["escalation"] = {"kind": kind, "status": "requested", "at": iso(tx.now),
                                  "reason": reason}
        return dict(incident["escalation"])
    req = ActionRequest("gateway_restart", "gateway", "high", reason, critical=True,
                        restart=True, auto=True)
    held = tx.hold(req, {"reason": reason, "auto": True, "incident_id": iid},
                   "R24: a zombie incident is escalated to a person once its trail is recorded")
    incident["escalation"] = {"kind": "approval", "approval_id": held.approval_id,
                              "at": iso(tx.now), "reason": reason}
    return dict(incident["escalation"])


def _auto_restart(ctx: Context, incident: dict[str, Any]) -> dict[str, Any]:
    """`zombie.auto_restart_zombie: true`: the guarded safe restart, after the bundle."""
    from ctoops.commands import safe_restart

    result = safe_restart.run(ctx, incident["escalation"]["reason"], auto=True)
    outcome = {"status": result.status, "exit_code": result.exit_code, "summary": result.summary,
               "event_id": result.data.get("event_id"),
               "approval_id": result.data.get("approval_id")}
    with ctx.store().transaction() as tx:
        current = tx.state["commands"].get(KEY, {}).get("incident")
        if current is not None and current.get("id") == incident["id"]:
            current["escalation"].update(outcome)
    return outcome


def _would(decision: policy.ZombieDecision) -> list[str]:
    out = []
    if decision.open_incident:
        out.append("open an incident, send an urgent alert, write its trail, then escalate")
    elif decision.collect_bundle:
        out.append("write the open incident's trail, then escalate")
    if decision.resolve_incident:
        out.append("close the incident and send a resolved notice")
    return out


# --- report ---------------------------------------------------------------------
def _report(ctx: Context, decision: policy.ZombieDecision, incident: dict[str, Any] | None,
            actions: dict[str, Any]) -> Report:
    findings = list(decision.findings)
    notes: list[str] = []
    if incident:
        findings.append(Finding("gateway", "incident", decision.risk if incident["status"] == "open"
                                else "none", _incident_text(incident), {"id": incident["id"]}))
        if incident.get("bundle_error"):
            notes.append(f"incident {incident['id']}: {incident['bundle_error']}")
    confirm = ctx.config.zombie.zombie_confirm_samples
    summary = f"gateway {decision.state} (failing runs {decision.streak}/{confirm})" + (
        f", incident {incident['id']} {incident['status']}" if incident else "")
    seen = {f.check: f.values for f in decision.findings}
    health = seen.get("http", {})
    perf = {"failing_runs": str(decision.streak), "state": decision.state}
    rss = seen.get("process", {}).get("rss_bytes")
    if rss is not None:
        perf["rss_bytes"] = f"{rss}B"
    report = check_report(KEY, findings, summary, perf, {
        "state": decision.state, "reasons": list(decision.reasons), "failing_runs": decision.streak,
        "confirm_samples": confirm, "cpu_moving": decision.cpu_moving, "http": health,
        "incident": incident, "actions": actions})
    report.notes.extend(notes)
    return report


def _incident_text(incident: dict[str, Any]) -> str:
    if incident["status"] != "open":
        return f"{incident['id']} resolved at {incident.get('closed_at')}"
    bundle = incident.get("bundle")
    esc = incident.get("escalation") or {}
    parts = [f"{incident['id']} open since {incident.get('opened_at')}",
             f"trail {bundle['path']}" if bundle else
             f"trail not written ({incident.get('bundle_error') or 'pending'})"]
    if esc.get("kind") == "approval":
        parts.append(f"restart held as {esc.get('approval_id')}: `ctoops approvals approve "
                     f"{esc.get('approval_id')} --reason ...`")
    elif esc:
        parts.append(f"auto restart {esc.get('status')}")
    return "; ".join(parts)
