"""Step 2 of the safe restart as one call: which storage era, then the right prune.

File era (a `sessions.json` under `agents/*/sessions/`): ctoops prunes the stores
itself (`actions/prune.py`). SQLite era (no legacy store, an agent database
present; the gateway renames migrated stores to `*.migrated`): the gateway's own
maintenance command does it (`actions/maintenance.py`). Neither: nothing to do.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ctoops.actions.maintenance import MaintenanceResult, find_openclaw, run_maintenance
from ctoops.actions.prune import Hook, StoreResult, check_stuck, find_stores, prune_legacy
from ctoops.config import Config


@dataclass
class DeadRunsStep:
    era: str  # file | sqlite | none
    status: str  # done | skipped | failed | dry_run
    summary: str
    stores: list[StoreResult] = field(default_factory=list)
    maintenance: MaintenanceResult | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def removed(self) -> int:
        return sum(len(s.removed_keys) for s in self.stores if s.status in ("pruned", "would_prune"))

    @property
    def bytes_saved(self) -> int:
        return sum((s.bytes_before or 0) - (s.bytes_after or 0) for s in self.stores
                   if s.status in ("pruned", "would_prune"))

    def as_dict(self) -> dict[str, Any]:
        touched = [s for s in self.stores if s.entries_before is not None]
        return {"era": self.era, "status": self.status, "summary": self.summary,
                "removed": self.removed, "bytes_saved": self.bytes_saved,
                "entries_before": sum(s.entries_before or 0 for s in touched),
                "entries_after": sum(s.entries_after or 0 for s in touched),
                "bytes_before": sum(s.bytes_before or 0 for s in touched),
                "bytes_after": sum(s.bytes_after or 0 for s in touched),
                "stores": [s.as_dict() for s in self.stores],
                "maintenance": self.maintenance.as_dict() if self.maintenance else None,
                "notes": self.notes}

    def stuck(self) -> dict[str, Any]:
        return check_stuck(self.stores)


def _sqlite_present(state_dir: Path) -> bool:
    return any(state_dir.glob("agents/*/agent/openclaw-agent.sqlite")) or \
        (state_dir / "state" / "openclaw.sqlite").is_file()


def prune_dead_runs(cfg: Config, state_dir_setting: str, now_ms: float, dry_run: bool,
                    before_replace: Hook | None = None) -> DeadRunsStep:
    if not state_dir_setting.strip():
        return DeadRunsStep("none", "skipped", "gateway.state_dir is empty; nothing pruned")
    state_dir = Path(state_dir_setting).expanduser()
    if not state_dir.is_dir():
        return DeadRunsStep("none", "skipped", f"{state_dir} does not exist; nothing pruned")
    stores, notes = find_stores(state_dir)
    if stores:
        results = prune_legacy(state_dir, stores, cfg.restart, now_ms,
                               cfg.sessions.cron_retention_s * 1000.0, dry_run, before_replace)
        step = DeadRunsStep("file", "done", "", results, notes=notes)
        failed = [r for r in results if r.status == "failed"]
        skipped = [r for r in results if r.status == "skipped"]
        if failed:
            step.status = "failed"
        elif len(skipped) == len(results):
            step.status = "skipped"
        elif dry_run:
            step.status = "dry_run"
        verb = "would remove" if dry_run else "removed"
        parts = [f"{verb} {step.removed} dead cron run(s) from {len(results)} store(s), "
                 f"{step.bytes_saved} bytes smaller"]
        parts += [f"{Path(r.path).parent.parent.name}: {r.status}: {r.reason}"
                  for r in results if r.status in ("skipped", "failed")]
        step.summary = "; ".join(parts)
        return step
    if _sqlite_present(state_dir):
        binary = find_openclaw(cfg.gateway.openclaw_bin)
        result = run_maintenance(binary, cfg.gateway.openclaw_bin, state_dir,
                                 cfg.restart.maintenance_timeout_s, dry_run)
        status = {"done": "done", "would_run": "dry_run"}.get(result.status, result.status)
        return DeadRunsStep("sqlite", status, result.reason, maintenance=result, notes=notes)
    return DeadRunsStep("none", "skipped", f"no session store under {state_dir}; nothing pruned",
                        notes=notes)
