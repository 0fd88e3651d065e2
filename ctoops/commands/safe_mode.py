"""`ctoops safe-mode show|leave`: the way out of safe mode is a person, audited."""

from __future__ import annotations

from ctoops.audit import AuditEvent
from ctoops.context import Context
from ctoops.errors import EXIT_CRITICAL, EXIT_OK
from ctoops.report import Report


def show(ctx: Context) -> Report:
    with ctx.store().transaction() as tx:
        sm = tx.state["safe_mode"]
    if not sm:
        return Report("safe-mode show", EXIT_OK, "OK", "not in safe mode", data={"safe_mode": None})
    return Report("safe-mode show", EXIT_CRITICAL, "CRITICAL",
                  f"safe mode since {sm.get('at')}: {sm.get('reason')}; quarantined state "
                  f"{sm.get('quarantined')}. Leave with `ctoops safe-mode leave --reason ...`",
                  data={"safe_mode": sm})


def leave(ctx: Context, reason: str) -> Report:
    if ctx.dry_run:
        return Report("safe-mode leave", 0, "dry_run", "would leave safe mode")
    with ctx.store().transaction() as tx:
        sm = tx.state["safe_mode"]
        if not sm:
            return Report("safe-mode leave", 0, "done", "not in safe mode: nothing to do")
        tx.state["safe_mode"] = None
        tx.audit(AuditEvent("safe-mode leave", "state", "high", "leave_safe_mode", "done",
                            reason, {"was": sm}))
        tx.decision(f"safe mode left: {reason}", "high")
    return Report("safe-mode leave", 0, "done", "safe mode left; the guardrails judge "
                  "from the (new) state again", data={"was": sm})
