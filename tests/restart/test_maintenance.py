"""SQLite-era pruning through the gateway's own `openclaw tasks maintenance`
(R13 step 2): preview then apply, both summaries recorded, never the databases
written by ctoops, never `sessions cleanup --enforce`."""

from __future__ import annotations

import dataclasses
import stat
import sys
from pathlib import Path

import pytest

from ctoops.actions.dead_runs import prune_dead_runs
from ctoops.config import Config, load_config
from tests.restart.helpers import tree_hashes

NOW_MS = 1_800_000_000_000.0


def config(openclaw_bin: str) -> Config:
    cfg = load_config(None)
    return dataclasses.replace(cfg, gateway=dataclasses.replace(cfg.gateway,
                                                                openclaw_bin=openclaw_bin))


def sqlite_state(root: Path) -> Path:
    (root / "state").mkdir(parents=True)
    (root / "state" / "openclaw.sqlite").write_bytes(b"SQLite format 3\x00")
    (root / "agents" / "main" / "sessions").mkdir(parents=True)
    (root / "agents" / "main" / "sessions" / "sessions.json.migrated").write_text("{}")
    return root


def fake_openclaw(tmp_path: Path, body: str) -> Path:
    """A stand-in CLI (a real executable) that logs its argv and runs `body`."""
    script = tmp_path / "openclaw"
    script.write_text(f"#!{sys.executable}\nimport json, sys\n"
                      f"open({str(tmp_path / 'calls.log')!r}, 'a').write(json.dumps(sys.argv[1:]) + '\\n')\n"
                      + body)
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


def calls(tmp_path: Path) -> list[str]:
    log = tmp_path / "calls.log"
    return log.read_text().splitlines() if log.exists() else []


def test_r13_sqlite_era_runs_preview_then_apply_and_records_both(tmp_path: Path) -> None:
    state = sqlite_state(tmp_path / "state")
    cli = fake_openclaw(tmp_path, (
        "print('warning: plugin x is slow', file=sys.stderr)\n"
        "mode = 'apply' if '--apply' in sys.argv else 'preview'\n"
        "print(json.dumps({'mode': mode, 'maintenance': {'sessions': {'pruned': 7}},"
        " 'tasks': {'total': 3}}, indent=2))\n"))
    step = prune_dead_runs(config(str(cli)), str(state), NOW_MS, dry_run=False)
    assert step.era == "sqlite" and step.status == "done", step.summary
    m = step.maintenance
    assert m is not None
    assert m.preview == {"mode": "preview", "maintenance": {"sessions": {"pruned": 7}}}
    assert m.applied is not None and m.applied["mode"] == "apply"
    assert "pruned: 7" in step.summary
    assert calls(tmp_path) == ['["tasks", "maintenance", "--json"]',
                               '["tasks", "maintenance", "--apply", "--json"]']


def test_r13_failed_preview_means_no_apply(tmp_path: Path) -> None:
    state = sqlite_state(tmp_path / "state")
    cli = fake_openclaw(tmp_path, "print('gateway config invalid'); sys.exit(2)\n")
    step = prune_dead_runs(config(str(cli)), str(state), NOW_MS, dry_run=False)
    assert step.status == "failed" and "rc=2" in step.summary
    assert "gateway config invalid" in step.summary
    assert len(calls(tmp_path)) == 1


def test_r13_sqlite_era_without_the_cli_is_skipped_with_a_reason(tmp_path: Path,
                                                                  monkeypatch) -> None:
    state = sqlite_state(tmp_path / "state")
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    step = prune_dead_runs(config(""), str(state), NOW_MS, dry_run=False)
    assert step.status == "skipped" and "no `openclaw` on PATH" in step.summary
    step = prune_dead_runs(config(str(tmp_path / "missing")), str(state), NOW_MS, dry_run=False)
    assert step.status == "skipped" and "is not an executable file" in step.summary


def test_r13_dry_run_does_not_run_the_gateway_cli(tmp_path: Path) -> None:
    state = sqlite_state(tmp_path / "state")
    cli = fake_openclaw(tmp_path, "print('{}')\n")
    before = tree_hashes(state)
    step = prune_dead_runs(config(str(cli)), str(state), NOW_MS, dry_run=True)
    assert step.status == "dry_run" and calls(tmp_path) == []
    assert step.maintenance is not None and len(step.maintenance.commands) == 2
    assert all("cleanup" not in argv and "--enforce" not in argv
               for argv in step.maintenance.commands)
    assert tree_hashes(state) == before


def test_r13_no_store_at_all_is_skipped(tmp_path: Path) -> None:
    (tmp_path / "state").mkdir()
    step = prune_dead_runs(load_config(None), str(tmp_path / "state"), NOW_MS, dry_run=False)
    assert step.era == "none" and step.status == "skipped"


@pytest.mark.parametrize("setting", ["", "/nonexistent/ctoops-state"])
def test_r13_unusable_state_dir_is_skipped(setting: str) -> None:
    step = prune_dead_runs(load_config(None), setting, NOW_MS, dry_run=False)
    assert step.status == "skipped"
