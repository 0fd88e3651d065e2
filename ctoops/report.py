"""What a command returns and how it is shown: one JSON document with --json,
a Rich table on a TTY, plain lines for timers and journald (no colour codes).

The first plain line is a Nagios status line with perfdata, so the same output
feeds a monitoring system and a person reading the journal.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass, field
from typing import Any

from ctoops.errors import EXIT_CRITICAL, EXIT_OK, EXIT_UNKNOWN, EXIT_WARNING

NAGIOS = {EXIT_OK: "OK", EXIT_WARNING: "WARNING", EXIT_CRITICAL: "CRITICAL",
          EXIT_UNKNOWN: "UNKNOWN"}
RISK_EXIT = {"none": EXIT_OK, "low": EXIT_OK, "medium": EXIT_WARNING, "high": EXIT_CRITICAL}
RISK_ORDER = {"none": 0, "low": 1, "medium": 2, "high": 3}
RISK_STYLE = {"none": "green", "low": "cyan", "medium": "yellow", "high": "bold red"}


def worst_risk(risks: list[str]) -> str:
    return max(risks, key=lambda r: RISK_ORDER.get(r, 0), default="none")


@dataclass
class Finding:
    """One observation: what was looked at, how risky it is, and why in words."""

    subsystem: str
    check: str
    risk: str  # none | low | medium | high
    message: str
    values: dict[str, Any] = field(default_factory=dict)


@dataclass
class Report:
    command: str
    exit_code: int
    status: str  # OK/WARNING/CRITICAL/UNKNOWN for checks; done/refused/... for actions
    summary: str
    findings: list[Finding] = field(default_factory=list)
    perfdata: dict[str, str] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # stderr lines (warnings) for people

    def to_json(self) -> dict[str, Any]:
        return {"command": self.command, "status": self.status, "exit_code": self.exit_code,
                "summary": self.summary, "findings": [asdict(f) for f in self.findings],
                "notes": self.notes, **self.data}


def check_report(command: str, findings: list[Finding], summary: str,
                 perfdata: dict[str, str] | None = None, data: dict[str, Any] | None = None
                 ) -> Report:
    """A Nagios-style report whose exit code follows the worst finding."""
    code = RISK_EXIT[worst_risk([f.risk for f in findings])]
    return Report(command, code, NAGIOS[code], summary, findings, perfdata or {}, data or {})


def render(report: Report, as_json: bool, stream: Any = None) -> None:
    out = stream or sys.stdout
    if as_json:
        out.write(json.dumps(report.to_json(), ensure_ascii=False, default=str, indent=2) + "\n")
        return
    if out.isatty():
        _render_rich(report, out)
        return
    perf = " ".join(f"{k}={v}" for k, v in report.perfdata.items())
    head = f"{report.command.upper()} {report.status} - {report.summary}"
    out.write(head + (f" | {perf}" if perf else "") + "\n")
    for f in report.findings:
        out.write(f"{f.risk.upper():<6} {f.subsystem}/{f.check}: {f.message}\n")


def _render_rich(report: Report, out: Any) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console(file=out, highlight=False)
    console.print(f"[bold]{escape(report.command)}[/bold] {escape(report.status)}: "
                  f"{escape(report.summary)}")
    if report.findings:
        table = Table(show_header=True, header_style="bold")
        for column in ("risk", "subsystem", "check", "message"):
            table.add_column(column, overflow="fold")
        for f in report.findings:
            style = RISK_STYLE.get(f.risk, "")
            table.add_row(f"[{style}]{escape(f.risk)}[/{style}]", escape(f.subsystem),
                          escape(f.check), escape(f.message))
        console.print(table)
