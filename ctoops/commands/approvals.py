"""`ctoops approvals list|approve|deny`: the person in the loop (R25).

A held action is never dropped: it waits here. Approving runs it through the same
guarded path as before, past the kill-switch but within the restart budget unless
`--override-budget` is given (audited as such). Every decision names the operator.
"""

from __future__ import annotations

import importlib
from typing import Any

from ctoops.audit import AuditEvent, iso
from ctoops.context import Context
from ctoops.errors import EXIT_TEMPFAIL, NotBuiltYet, UsageError
from ctoops.report import Finding, Report
from ctoops.state import _who

# action name -> "module:function" that runs an approved record: fn(ctx, record, override_budget)
RUNNERS = {
    "gateway_restart": "ctoops.commands.safe_restart:run_approved",
    "chain_freeze": "ctoops.commands.retry_storm:run_approved",
}


def list_(ctx: Context, include_decided: bool) -> Report:
    with ctx.store().transaction() as tx:
        records = list(tx.state["approvals"].values())
    if not include_decided:
        records = [r for r in records if r.get("status") == "pending"]
    findings = [Finding(r["subsystem"], r["action"], "medium" if r["status"] == "pending" else "none",
                        f"{r['id']} [{r['status']}] held by {r.get('held_by')} since "
                        f"{r.get('requested_at')}, asked by {r.get('requested_by')}: {r['reason']}")
                for r in records]
    pending = sum(1 for r in records if r.get("status") == "pending")
    return Report("approvals list", 0, "OK", f"{pending} pending approval(s)", findings,
                  data={"approvals": records})


def _decide(ctx: Context, approval_id: str, status: str, reason: str) -> dict[str, Any]:
    with ctx.store().transaction() as tx:
        record = tx.state["approvals"].get(approval_id)
        if record is None:
            raise UsageError(f"no held action with id {approval_id!r} (see `ctoops approvals list`)")
        if record["status"] != "pending":
            raise UsageError(f"{approval_id} was already {record['status']} by "
                             f"{record.get('decided_by')} at {record.get('decided_at')}")
        if ctx.dry_run:
            return dict(record)
        record.update(status=status, decided_by=_who(), decided_ts=tx.now,
                      decided_at=iso(tx.now), decision_reason=reason)
        tx.audit(AuditEvent(ctx.command, record["subsystem"], record["risk"], record["action"],
                            status, reason, {"approval_id": approval_id,
                                             "requested_reason": record["reason"],
                                             "operator": record["decided_by"]}))
        return dict(record)


def approve(ctx: Context, approval_id: str, reason: str, override_budget: bool) -> Report:
    with ctx.store().transaction() as tx:
        record = tx.state["approvals"].get(approval_id)
        action = record["action"] if record else None
    target = RUNNERS.get(action or "")
    if record is not None and target is None:
        raise NotBuiltYet(f"no runner for held action {action!r} yet")
    record = _decide(ctx, approval_id, "approved", reason)
    if ctx.dry_run:
        return Report("approvals approve", 0, "dry_run",
                      f"would approve {approval_id} and run {record['action']}")
    module_name, func = target.split(":")  # type: ignore[union-attr]
    runner = getattr(importlib.import_module(module_name), func)
    result: Report = runner(ctx, record, override_budget)
    if result.exit_code == EXIT_TEMPFAIL:
        _reopen(ctx, approval_id, result.summary)
        result.notes.append(f"{approval_id} stays pending: a limit refused it ({result.summary})")
    result.command = "approvals approve"
    result.data["approval_id"] = approval_id
    return result


def _reopen(ctx: Context, approval_id: str, why: str) -> None:
    """An approved action that a limit (the budget) refused is not lost: it goes
    back to pending, so it can be approved again later or denied."""
    with ctx.store().transaction() as tx:
        record = tx.state["approvals"][approval_id]
        record.update(status="pending", refused_after_approval={
            "at": iso(tx.now), "by": record.get("decided_by"), "why": why})
        tx.audit(AuditEvent(ctx.command, record["subsystem"], record["risk"], record["action"],
                            "refused", f"approved but refused by a limit; pending again: {why}",
                            {"approval_id": approval_id}))


def deny(ctx: Context, approval_id: str, reason: str) -> Report:
    record = _decide(ctx, approval_id, "denied", reason)
    verb = "would deny" if ctx.dry_run else "denied"
    return Report("approvals deny", 0, "dry_run" if ctx.dry_run else "done",
                  f"{verb} {approval_id} ({record['action']}): {reason}",
                  data={"approval": record})
