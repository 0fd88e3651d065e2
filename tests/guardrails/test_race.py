"""R30: the limits hold when eight invocations race (real processes, real lock).

A racing run either gets the slot, is refused (75: budget, or another restart in
flight) or is held (77: kill-switch); the restart command runs exactly as often as
runs exited 0, never more than the limits allow."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml

from ctoops.audit import verify
from tests.conftest import REPO, ctoops_env, write_config


def _race(workspace: Path, n: int = 8) -> list[int]:
    argv = [sys.executable, "-m", "ctoops", "--root", str(workspace), "safe-restart",
            "--auto", "--reason", "race test"]
    procs = [subprocess.Popen(argv, env=ctoops_env(), cwd=REPO, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE) for _ in range(n)]
    return [p.wait(timeout=300) for p in procs]


def _restarts(workspace: Path) -> int:
    path = workspace / "restarts.txt"
    return len(path.read_text().splitlines()) if path.exists() else 0


def _decisions(workspace: Path) -> list[dict]:
    records = [json.loads(line) for line in
               (workspace / "logs" / "cto-ops-audit.log").read_text().splitlines()]
    return [r for r in records if r["action"] == "gateway_restart"
            and r["outcome"] in ("reserved", "needs_approval", "refused")]


def test_r25_r30_racing_restarts_never_pass_the_kill_switch(workspace: Path) -> None:
    codes: list[int] = []
    for _ in range(3):  # three waves of eight racing runs
        codes += _race(workspace)
    assert set(codes) <= {0, 75, 77}
    assert _restarts(workspace) == codes.count(0) == 2  # exactly the kill-switch's two
    assert codes.count(77) >= 1  # the third critical action was held, not dropped
    decisions = _decisions(workspace)
    assert len(decisions) == 24  # one audited decision per run
    assert all(r.get("auto") is True for r in decisions)
    assert verify(workspace / "logs" / "cto-ops-audit.log").ok
    state = json.loads((workspace / "memory" / "orchestration-state.json").read_bytes())
    held = [a for a in state["approvals"].values() if a["status"] == "pending"]
    assert len(held) == codes.count(77)
    assert state["intents"] == {}


def test_r7_r30_racing_restarts_spend_exactly_the_budget(workspace: Path) -> None:
    cfg = yaml.safe_load((workspace / "config" / "ctoops.yaml").read_text())
    cfg["guardrails"] = {"kill_switch_enabled": False}
    write_config(workspace, cfg)
    codes: list[int] = []
    for _ in range(4):
        codes += _race(workspace)
    assert set(codes) <= {0, 75}
    assert _restarts(workspace) == codes.count(0) == 3  # exactly the 3-per-hour budget
    refusals = [r for r in _decisions(workspace) if r["outcome"] == "refused"]
    assert len(refusals) == codes.count(75)
    budget = [r for r in refusals if r["details"].get("verdict", {}).get("limit")
              == "restart_budget"]
    assert budget and all(r["details"]["verdict"]["retry_at"] for r in budget)
