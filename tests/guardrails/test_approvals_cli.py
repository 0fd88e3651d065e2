"""R25 end to end through the CLI: held -> approve runs it / deny closes it, both
audited with the operator; the window passes and a new request runs; a clock moved
back reopens nothing."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from tests.conftest import Ran

T0 = 1_800_000_000.0


def _at(t: float) -> dict[str, str]:
    return {"CTOOPS_FAKE_NOW": str(t)}


def _restarts(workspace: Path) -> int:
    path = workspace / "restarts.txt"
    return len(path.read_text().splitlines()) if path.exists() else 0


def test_r25_third_is_held_then_approved_and_denied(ctoops: Callable[..., Ran],
                                                    workspace: Path) -> None:
    assert ctoops("safe-restart", "--reason", "one", env=_at(T0)).returncode == 0
    assert ctoops("safe-restart", "--reason", "two", env=_at(T0 + 10)).returncode == 0
    held = ctoops("--json", "safe-restart", "--reason", "three", env=_at(T0 + 20))
    assert held.returncode == 77
    approval_a = held.json()["approval_id"]
    held_b = ctoops("--json", "safe-restart", "--reason", "four", env=_at(T0 + 30))
    approval_b = held_b.json()["approval_id"]
    assert _restarts(workspace) == 2

    listed = ctoops("--json", "approvals", "list", env=_at(T0 + 40)).json()
    assert {a["id"] for a in listed["approvals"]} == {approval_a, approval_b}

    approved = ctoops("--json", "approvals", "approve", approval_a, "--reason", "on-call ok",
                      env=_at(T0 + 50))
    assert approved.returncode == 0, approved.stderr
    assert _restarts(workspace) == 3
    # the budget (3/h) is now spent: approving the other one is refused, not run
    again = ctoops("approvals", "approve", approval_b, "--reason", "also", env=_at(T0 + 60))
    assert again.returncode == 75
    assert _restarts(workspace) == 3
    assert "stays pending" in again.stderr
    # refused by a limit, it is not lost: still pending, so it can be denied
    denied = ctoops("approvals", "deny", approval_b, "--reason", "not needed", env=_at(T0 + 70))
    assert denied.returncode == 0, denied.stderr

    records = [json.loads(x) for x in (workspace / "logs" / "cto-ops-audit.log").read_text()
               .splitlines()]
    decided = [r for r in records if r["outcome"] in ("approved", "denied")]
    assert [r["outcome"] for r in decided] == ["approved", "approved", "denied"]
    assert all(r["details"]["operator"] for r in decided)


def test_r25_deny_closes_without_running(ctoops: Callable[..., Ran], workspace: Path) -> None:
    for i in range(2):
        ctoops("safe-restart", "--reason", f"r{i}", env=_at(T0 + i))
    held = ctoops("--json", "safe-restart", "--reason", "held", env=_at(T0 + 5)).json()
    denied = ctoops("approvals", "deny", held["approval_id"], "--reason", "no",
                    env=_at(T0 + 6))
    assert denied.returncode == 0
    assert _restarts(workspace) == 2
    assert ctoops("approvals", "approve", held["approval_id"], "--reason", "late",
                  env=_at(T0 + 7)).returncode == 2
    assert '"outcome":"denied"' in (workspace / "logs" / "cto-ops-audit.log").read_text()


def test_r25_after_the_window_a_new_request_runs(ctoops: Callable[..., Ran],
                                                 workspace: Path) -> None:
    for i in range(2):
        ctoops("safe-restart", "--reason", f"r{i}", env=_at(T0 + i))
    assert ctoops("safe-restart", "--reason", "held", env=_at(T0 + 100)).returncode == 77
    assert ctoops("safe-restart", "--reason", "later", env=_at(T0 + 301)).returncode == 0
    assert _restarts(workspace) == 3


def test_r30_clock_moved_back_10_minutes_allows_nothing_extra(ctoops: Callable[..., Ran],
                                                              workspace: Path) -> None:
    for i in range(2):
        ctoops("safe-restart", "--reason", f"r{i}", env=_at(T0 + 400 + i))
    # wall clock jumps back 10 minutes: the window must not look empty
    assert ctoops("safe-restart", "--reason", "back", env=_at(T0 - 200)).returncode == 77
    assert _restarts(workspace) == 2
