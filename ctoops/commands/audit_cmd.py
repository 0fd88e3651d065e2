"""`ctoops audit tail|verify` over logs/cto-ops-audit.log."""

from __future__ import annotations

from ctoops import audit
from ctoops.context import Context
from ctoops.report import Finding, Report


def tail(ctx: Context, lines: int) -> Report:
    records = audit.read_tail(ctx.workspace.audit_log, lines)
    findings = [Finding(r.get("subsystem", "?"), r.get("action", "?"), r.get("risk", "none")
                        if r.get("risk") in ("none", "low", "medium", "high") else "none",
                        f"{r.get('ts')} {r.get('command')} -> {r.get('outcome')}: "
                        f"{r.get('reason', '')}") for r in records]
    return Report("audit tail", 0, "OK", f"last {len(records)} audit record(s)", findings,
                  data={"records": records})


def verify(ctx: Context) -> Report:
    result = audit.verify(ctx.workspace.audit_log)
    data = {"lines": result.lines, "ok": result.ok, "bad_line": result.bad_line,
            "problem": result.problem, "torn_tail": result.torn_tail,
            "torn_sidecars": list(result.sidecars)}
    notes = []
    if result.torn_tail:
        notes.append("the last line is torn (a crash mid-write, not tampering); the next "
                     "append moves it aside")
    if result.sidecars:
        notes.append(f"earlier torn tails were moved aside: {', '.join(result.sidecars)}")
    if not result.ok:
        return Report("audit verify", 1, "TAMPERED",
                      f"line {result.bad_line}: {result.problem}", data=data, notes=notes)
    return Report("audit verify", 0, "OK", f"{result.lines} record(s), chain intact"
                  + (" (torn last line)" if result.torn_tail else ""), data=data, notes=notes)
