"""R9, R20: `ctoops gate spawn|chain` for other tools: 0 allowed, 1 blocked with
why and until when; freezes are global or per job; an expired one no longer blocks."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from ctoops.state import empty_state
from tests.conftest import Ran

T0 = 1_800_000_000.0


def _seed(workspace: Path, **sections: dict) -> None:
    state = empty_state()
    state.update(sections)
    path = workspace / "memory" / "orchestration-state.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(state))


def test_r9_spawn_blocked_while_resource_pressure_flag_is_set(ctoops: Callable[..., Ran],
                                                              workspace: Path) -> None:
    _seed(workspace, flags={"resource_pressure": {
        "since": T0, "until": None, "reason": "memory 96%", "blocks_spawn": True}})
    ran = ctoops("gate", "spawn", env={"CTOOPS_FAKE_NOW": str(T0 + 5)})
    assert ran.returncode == 1
    assert "resource_pressure (memory 96%) until cleared" in ran.stdout


def test_r9_flag_that_does_not_block_spawns_allows(ctoops: Callable[..., Ran],
                                                   workspace: Path) -> None:
    _seed(workspace, flags={"note": {"since": T0, "reason": "x", "blocks_spawn": False}})
    assert ctoops("gate", "spawn").returncode == 0


def test_r20_chain_freeze_global_and_per_job_with_until(ctoops: Callable[..., Ran],
                                                        workspace: Path) -> None:
    _seed(workspace, freezes={"job:nightly": {"since": T0, "until": T0 + 1800,
                                              "reason": "storm"}})
    at = {"CTOOPS_FAKE_NOW": str(T0 + 60)}
    assert ctoops("gate", "chain", env=at).returncode == 0  # no global freeze
    frozen = ctoops("--json", "gate", "chain", "--job", "nightly", env=at)
    assert frozen.returncode == 1
    [blocker] = frozen.json()["blockers"]
    assert blocker["until"] == T0 + 1800 and blocker["until_iso"].endswith("Z")
    assert ctoops("gate", "chain", "--job", "other", env=at).returncode == 0
    after = {"CTOOPS_FAKE_NOW": str(T0 + 1800)}
    assert ctoops("gate", "chain", "--job", "nightly", env=after).returncode == 0


def test_gate_reads_without_taking_the_lock(ctoops: Callable[..., Ran], workspace: Path) -> None:
    import fcntl

    _seed(workspace)
    lock = workspace / "memory" / ".ctoops.lock"
    with lock.open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        ran = ctoops("gate", "spawn", timeout=10)
    assert ran.returncode == 0
