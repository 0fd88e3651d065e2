"""R30: the limits hold when eight invocations race (real processes, real lock)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ctoops.audit import verify
from tests.conftest import REPO, ctoops_env, write_config


def _race(workspace: Path, n: int = 8) -> list[int]:
    argv = [sys.executable, "-m", "ctoops", "--root", str(workspace), "safe-restart",
            "--auto", "--reason", "race test"]
    procs = [subprocess.Popen(argv, env=ctoops_env(), cwd=REPO, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE) for _ in range(n)]
    return [p.wait(timeout=300) for p in procs]


def _audit_records(workspace: Path) -> list[dict]:
    return [json.loads(line) for line in
            (workspace / "logs" / "cto-ops-audit.log").read_text().splitlines()]


def test_r25_r30_eight_racing_restarts_run_exactly_two(workspace: Path) -> None:
    codes = _race(workspace)
    lines = (workspace / "restarts.txt").read_text().splitlines()
    assert len(lines) == 2
    assert sorted(codes) == [0, 0] + [77] * 6
    records = _audit_records(workspace)
    decisions = [r for r in records if r["action"] == "gateway_restart"
                 and r["outcome"] in ("reserved", "needs_approval", "refused")]
    assert len(decisions) == 8
    assert sum(1 for r in records if r["outcome"] == "done") == 2
    assert all(r.get("auto") is True for r in decisions)
    assert verify(workspace / "logs" / "cto-ops-audit.log").ok
    state = json.loads((workspace / "memory" / "orchestration-state.json").read_bytes())
    assert sum(1 for a in state["approvals"].values() if a["status"] == "pending") == 6


@pytest.mark.parametrize("n", [8])
def test_r7_r30_eight_racing_restarts_spend_exactly_the_budget(workspace: Path, n: int) -> None:
    cfg_path = workspace / "config" / "ctoops.yaml"
    import yaml

    cfg = yaml.safe_load(cfg_path.read_text())
    cfg["guardrails"] = {"kill_switch_enabled": False}
    write_config(workspace, cfg)
    codes = _race(workspace, n)
    assert len((workspace / "restarts.txt").read_text().splitlines()) == 3
    assert sorted(codes) == [0, 0, 0] + [75] * (n - 3)
    refusals = [r for r in _audit_records(workspace) if r["outcome"] == "refused"]
    assert len(refusals) == n - 3
    assert all(r["details"]["verdict"]["limit"] == "restart_budget" for r in refusals)
    assert all(r["details"]["verdict"]["retry_at"] for r in refusals)
