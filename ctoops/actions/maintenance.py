"""SQLite-era cron-run pruning through the gateway's own CLI (R13 step 2).

From 2026.8 the sessions live in SQLite databases that only the gateway may write.
Its `openclaw tasks maintenance` previews (and with `--apply` performs) task
reconciliation and prunes old `cron:<jobId>:run:<uuid>` rows while keeping running
jobs: that is the sanctioned dead-run prune, so ctoops runs the preview, then the
apply, and records both JSON summaries. Never `openclaw sessions cleanup
--enforce`: it caps the store by age and would drop live sessions.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ctoops.subproc import run_command

SUMMARY_KEYS = ("mode", "maintenance")


@dataclass
class MaintenanceResult:
    status: str  # done | skipped | failed | would_run
    reason: str
    binary: str | None = None
    preview: dict[str, Any] | None = None
    applied: dict[str, Any] | None = None
    commands: list[list[str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def find_openclaw(configured: str) -> str | None:
    """`gateway.openclaw_bin` when set (it must exist), else `openclaw` on PATH."""
    if configured:
        path = Path(configured).expanduser()
        return str(path) if path.is_file() and os.access(path, os.X_OK) else None
    return shutil.which("openclaw")


def parse_summary(output: str) -> dict[str, Any] | None:
    """The JSON document in the command's output (stderr may carry warning lines
    around it): the first line that starts a JSON object and decodes."""
    decoder = json.JSONDecoder()
    text = output.strip()
    starts = [0] + [i + 1 for i, ch in enumerate(text) if ch == "\n"]
    for start in starts:
        if text[start:start + 1] != "{":
            continue
        try:
            value, _ = decoder.raw_decode(text, start)
        except (ValueError, RecursionError):
            continue
        if isinstance(value, dict):
            return value
    return None


def _summary(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: doc[k] for k in SUMMARY_KEYS if k in doc}


def run_maintenance(binary: str | None, configured: str, state_dir: Path, timeout_s: float,
                    dry_run: bool) -> MaintenanceResult:
    if binary is None:
        where = f"gateway.openclaw_bin {configured!r} is not an executable file" if configured \
            else "no `openclaw` on PATH and gateway.openclaw_bin is empty"
        return MaintenanceResult("skipped", f"SQLite-era store but {where}; nothing pruned")
    preview_argv = [binary, "tasks", "maintenance", "--json"]
    apply_argv = [binary, "tasks", "maintenance", "--apply", "--json"]
    if dry_run:
        return MaintenanceResult("would_run", "would run the gateway's maintenance preview, "
                                 "then --apply", binary, commands=[preview_argv, apply_argv])
    env = {**os.environ, "OPENCLAW_STATE_DIR": str(state_dir)}
    out = MaintenanceResult("failed", "", binary)
    for argv in (preview_argv, apply_argv):
        out.commands.append(argv)
        result = run_command(argv, timeout_s, tail_bytes=1 << 20, env=env)
        doc = parse_summary(result.output_tail) if result.ok else None
        if doc is None:
            out.reason = (f"{' '.join(argv[1:])} failed: rc={result.returncode} {result.error} "
                          f"{result.output_tail[-300:]}").strip()
            return out
        if argv is preview_argv:
            out.preview = _summary(doc)
        else:
            out.applied = _summary(doc)
    sessions = ((out.applied or {}).get("maintenance") or {}).get("sessions") or {}
    out.status = "done"
    out.reason = f"gateway maintenance applied; cron-run rows pruned: {sessions.get('pruned', '?')}"
    return out
