"""Fixtures for `check sessions`: a workspace pointed at a generated gateway state
root, a board in it, and the real CLI run with a pinned clock."""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Ran, run_ctoops, write_config

NOW_S = 1_796_000_000.0  # the pinned clock (epoch seconds); gateway times are ms
NOW_MS = int(NOW_S * 1000)


@dataclass
class SessionsWs:
    root: Path
    state_dir: Path

    @property
    def board(self) -> Path:
        return self.root / "memory" / "mc-board.json"

    @property
    def mc_output(self) -> Path:
        return self.root / "logs" / "mc-output.jsonl"

    @property
    def audit_log(self) -> Path:
        return self.root / "logs" / "cto-ops-audit.log"

    def write_board(self, tasks: list[dict[str, Any]], **extra: Any) -> None:
        self.board.parent.mkdir(parents=True, exist_ok=True)
        self.board.write_text(json.dumps({"version": 1, "tasks": tasks, **extra}, indent=2),
                              encoding="utf-8")

    def read_board(self) -> dict[str, Any]:
        return json.loads(self.board.read_text(encoding="utf-8"))

    def task(self, task_id: str) -> dict[str, Any]:
        return next(t for t in self.read_board()["tasks"] if t["id"] == task_id)

    def state(self) -> dict[str, Any]:
        return json.loads((self.root / "memory" / "orchestration-state.json").read_text())

    def memory(self) -> dict[str, Any]:
        return self.state()["commands"]["check sessions"]

    def audit(self, action: str | None = None) -> list[dict[str, Any]]:
        if not self.audit_log.exists():
            return []
        lines = [json.loads(x) for x in self.audit_log.read_text().splitlines()]
        return [x for x in lines if action is None or x["action"] == action]

    def mc_lines(self, kind: str | None = None) -> list[dict[str, Any]]:
        if not self.mc_output.exists():
            return []
        lines = [json.loads(x) for x in self.mc_output.read_text().splitlines()]
        return [x for x in lines if kind is None or x.get("type") == kind
                or x.get("kind", "").startswith(kind)]

    def run(self, *args: str, now: float = NOW_S) -> Ran:
        return run_ctoops([*args], root=self.root, env={"CTOOPS_FAKE_NOW": repr(now)})

    def check(self, now: float = NOW_S, dry_run: bool = False) -> tuple[Ran, dict[str, Any]]:
        ran = self.run(*(["--dry-run"] if dry_run else []), "--json", "check", "sessions",
                       now=now)
        assert ran.stdout, ran.stderr
        return ran, ran.json()


@pytest.fixture
def sws(tmp_path: Path) -> SessionsWs:
    root = tmp_path / "ws"
    state_dir = tmp_path / "openclaw"
    state_dir.mkdir()
    write_config(root, {
        "gateway": {"state_dir": str(state_dir), "health_url": "http://127.0.0.1:9",
                    "restart_command": [sys.executable, "-c", "pass"],
                    "process_name": "ctoops-test-no-such-gateway"},
        "notify": {"order": ["mc_output"]}})
    return SessionsWs(root, state_dir)


def tree_digest(folder: Path) -> dict[str, tuple[str, int]]:
    """Every file under `folder` with its content hash and mtime: 'nothing written'."""
    out = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            out[str(path.relative_to(folder))] = (hashlib.sha256(path.read_bytes()).hexdigest(),
                                                  path.stat().st_mtime_ns)
    return out


@pytest.fixture
def digest() -> Callable[[Path], dict[str, tuple[str, int]]]:
    return tree_digest
