"""Fixtures for the retry-storm tests: a workspace wired to real log and state
folders, and a CLI runner that pins the clock (CTOOPS_FAKE_NOW)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import Ran, run_ctoops

# A fixed local day, so file names and event times agree whatever the host clock says.
T0 = 1_796_040_000.0  # 2026-11-30T12:00:00Z
DAY = "2026-11-30"
FIXTURES = Path(__file__).parent / "fixtures"


@dataclass
class StormWs:
    root: Path
    logs: Path
    state_dir: Path
    run: Callable[..., Ran]

    def configure(self, **retry_storm: Any) -> None:
        path = self.root / "config" / "ctoops.yaml"
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        data.setdefault("retry_storm", {}).update(retry_storm)
        path.write_text(yaml.safe_dump(data), encoding="utf-8")

    def state(self) -> dict[str, Any]:
        return json.loads((self.root / "memory" / "orchestration-state.json").read_text())

    def notices(self) -> list[dict[str, Any]]:
        path = self.root / "logs" / "mc-output.jsonl"
        if not path.exists():
            return []
        return [r for r in (json.loads(line) for line in path.read_text().splitlines())
                if r.get("type") == "notice"]


@pytest.fixture
def storm_ws(workspace: Path, tmp_path: Path) -> StormWs:
    logs = tmp_path / "openclaw-logs"
    logs.mkdir()
    state_dir = tmp_path / "openclaw-state"
    state_dir.mkdir()
    path = workspace / "config" / "ctoops.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["retry_storm"] = {"sources": ["gateway_log", "cron", "events"]}
    path.write_text(yaml.safe_dump(data), encoding="utf-8")

    def run(*args: str, at: float, env: dict[str, str] | None = None) -> Ran:
        return run_ctoops(list(args), root=workspace,
                          env={"CTOOPS_FAKE_NOW": repr(at), "TZ": "UTC", **(env or {})})

    return StormWs(workspace, logs, state_dir, run)
