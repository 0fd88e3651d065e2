"""The clock moved back and forward (CTOOPS_FAKE_NOW) across safe-restart, a
retry-storm freeze and notification reminders (issue 12; DESIGN.md "a clock that
went backwards must not reopen a spent budget"): the budget and the kill-switch
hold, a freeze does not end early when the clock goes back, and no alert or
reminder is sent twice for the same moment."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from ctoops.actions.notify import Notice, dispatch
from tests.conftest import Ran, run_ctoops, write_config
from tests.notify.support import make_ctx

T = 1_800_000_000.0


def _at(root: Path, now: float, *args: str) -> Ran:
    return run_ctoops(list(args), root=root, env={"CTOOPS_FAKE_NOW": repr(now)})


def _restart(root: Path, now: float) -> int:
    ran = _at(root, now, "safe-restart", "--reason", f"clock drill at {now:.0f}")
    assert "Traceback" not in ran.stderr, ran.stderr
    return ran.returncode


def _restarts(root: Path) -> int:
    path = root / "restarts.txt"
    return len(path.read_text().splitlines()) if path.exists() else 0


def _notices(root: Path) -> list[dict[str, Any]]:
    path = root / "logs" / "mc-output.jsonl"
    lines = path.read_text().splitlines() if path.exists() else []
    return [r for r in map(json.loads, lines) if r.get("type") == "notice"]


def test_clock_moved_back_never_reopens_the_restart_budget_or_the_kill_switch(
        workspace: Path) -> None:
    root = workspace
    # Three restarts in the hour spend the budget (R7).
    assert [_restart(root, t) for t in (T, T + 1000, T + 2000)] == [0, 0, 0]
    # Back a day, back five hours, back to a minute before the first: still spent.
    assert [_restart(root, t) for t in (T - 86400, T - 18000, T - 60)] == [75, 75, 75]
    # Forward to just past the first one's window: one slot frees, and only one.
    assert _restart(root, T + 3601) == 0
    assert [_restart(root, t) for t in (T + 100, T + 3602, T - 1)] == [75, 75, 75]
    assert _restarts(root) == 4
    # Two critical actions in five minutes, then the clock goes back: the third is
    # held for a person (R25), not run.
    later = T + 20000
    assert [_restart(root, t) for t in (later, later + 100)] == [0, 0]
    assert _restart(root, later - 5000) == 77
    assert _restarts(root) == 6
    state = json.loads((root / "memory" / "orchestration-state.json").read_text())
    assert state["latest_ts"] == later + 100  # the recorded time never went back
    times = sorted(e["ts"] for e in state["history"] if e.get("restart"))
    assert all(sum(1 for u in times if t <= u < t + 3600) <= 3 for t in times)


def _storm_config(root: Path) -> None:
    write_config(root, {"retry_storm": {"sources": ["events"], "events_path": "logs/events.jsonl",
                                        "threshold": 5, "window_s": 600, "freeze_s": 1800},
                        "notify": {"order": ["mc_output"]},
                        "gateway": {"restart_command": [sys.executable, "-c", "pass"]}})


def _errors(root: Path, at: float, n: int = 8) -> None:
    path = root / "logs" / "events.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as fh:
        for i in range(n):
            fh.write(json.dumps({"ts": at - 5 * i, "message": "upstream 502 from api"}) + "\n")


def _freeze(root: Path) -> dict[str, Any] | None:
    state = json.loads((root / "memory" / "orchestration-state.json").read_text())
    return state["freezes"].get("global")


def test_clock_moved_back_does_not_end_a_freeze_early_nor_alert_twice(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    _storm_config(root)
    _errors(root, T)
    assert _at(root, T, "retry-storm").returncode == 2
    until = _freeze(root)["until"]
    assert until == T + 1800
    # Back two hours: the chain stays frozen, a run changes nothing and says nothing new.
    assert _at(root, T - 7200, "gate", "chain").returncode == 1
    _errors(root, T - 7200)  # a tool whose clock went back with ours keeps failing
    assert _at(root, T - 7200, "retry-storm").returncode in (1, 2)
    assert _at(root, T - 7200, "gate", "chain").returncode == 1
    assert _freeze(root)["until"] == until  # neither shortened nor stacked
    assert _at(root, T + 1799, "gate", "chain").returncode == 1
    # Forward past its end: it ends by itself; a quiet run lifts it, once.
    assert _at(root, T + 1900, "gate", "chain").returncode == 0
    assert _at(root, T + 2600, "retry-storm").returncode == 0
    assert _freeze(root) is None
    # Back again: nothing reopens, nothing is said again.
    assert _at(root, T + 100, "gate", "chain").returncode == 0
    assert _at(root, T + 100, "retry-storm").returncode == 0
    kinds = [n["message"] for n in _notices(root) if n.get("subsystem") == "chain"]
    assert kinds == ["firing", "resolved"], kinds


def test_reminders_fire_once_per_interval_whichever_way_the_clock_moves(workspace: Path) -> None:
    root = workspace  # notify.order: [mc_output]; repeat_interval_s: 3600

    def observe(now: float, active: bool = True) -> None:
        notice = Notice("resources", "memory_pressure", "medium", "Memory pressure",
                        "host memory above 90%", condition=True, active=active)
        dispatch(make_ctx(root, now), [notice])

    for now in (T, T + 10, T + 3700, T + 100, T + 3800, T - 50000, T + 7400, T + 7000, T + 7450):
        observe(now)
    for now in (T + 7500, T + 7600, T + 200, T + 7700):
        observe(now, active=False)
    kinds = [n["message"] for n in _notices(root)]
    assert kinds == ["firing", "reminder", "reminder", "resolved"], kinds
