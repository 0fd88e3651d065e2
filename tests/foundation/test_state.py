"""The orchestration state (R27, R29, R30): transactions under the lock, atomic
writes that survive SIGKILL, quarantine of a corrupt file and safe mode."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from ctoops.clock import FixedClock
from ctoops.config import load_config
from ctoops.errors import StateUnavailable
from ctoops.policy.guardrails import ActionRequest
from ctoops.state import SCHEMA_VERSION, StateStore, parse_state
from ctoops.workspace import Workspace
from tests.conftest import REPO, ctoops_env

INCREMENT = """
import sys
from pathlib import Path
from ctoops.clock import SystemClock
from ctoops.config import load_config
from ctoops.state import StateStore
from ctoops.workspace import Workspace
ws = Workspace(Path(sys.argv[1]))
store = StateStore(ws, SystemClock(), "test", load_config(None).guardrails, print)
for _ in range(int(sys.argv[2])):
    with store.transaction() as tx:
        mem = tx.state["commands"].setdefault("counter", {"n": 0})
        mem["n"] += 1
        mem["blob"] = "x" * int(sys.argv[3])
"""


def _store(root: Path, t: float = 1_000_000.0, warnings: list[str] | None = None) -> StateStore:
    sink = warnings if warnings is not None else []
    return StateStore(Workspace(root), FixedClock(t), "test", load_config(None).guardrails,
                      sink.append)


def test_r30_eight_processes_times_200_increments_give_exactly_1600(tmp_path: Path) -> None:
    procs = [subprocess.Popen([sys.executable, "-c", INCREMENT, str(tmp_path), "200", "10"],
                              env=ctoops_env(), cwd=REPO) for _ in range(8)]
    for p in procs:
        assert p.wait(timeout=300) == 0
    state = json.loads((tmp_path / "memory" / "orchestration-state.json").read_bytes())
    assert state["commands"]["counter"]["n"] == 1600


def test_r29_sigkill_while_writing_never_leaves_an_unparseable_file(tmp_path: Path) -> None:
    state_file = tmp_path / "memory" / "orchestration-state.json"
    kills = 0
    for i in range(25):
        proc = subprocess.Popen([sys.executable, "-c", INCREMENT, str(tmp_path), "100000",
                                 "200000"], env=ctoops_env(), cwd=REPO)
        time.sleep(0.25 + (i % 5) * 0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        kills += 1
        if state_file.exists():
            parse_state(state_file.read_bytes())  # raises if torn
    assert kills == 25
    assert json.loads(state_file.read_bytes())["commands"]["counter"]["n"] > 0
    leftovers = [p.name for p in state_file.parent.glob("*.tmp")]
    assert len(leftovers) <= 1  # the last killed writer's temp file; the next run removes it


def test_r27_corrupt_state_is_quarantined_and_safe_mode_starts(tmp_path: Path) -> None:
    state_file = tmp_path / "memory" / "orchestration-state.json"
    state_file.parent.mkdir(parents=True)
    state_file.write_bytes(b'{"schema_version": 1, "history": [tru')
    warnings: list[str] = []
    with _store(tmp_path, warnings=warnings).transaction() as tx:
        assert tx.state["safe_mode"] is not None
        assert tx.quarantined is not None
    quarantined = list(state_file.parent.glob("orchestration-state.json.corrupt-*"))
    assert len(quarantined) == 1
    assert quarantined[0].read_bytes() == b'{"schema_version": 1, "history": [tru'
    assert warnings and "STATE CORRUPT" in warnings[0]
    audit = (tmp_path / "logs" / "cto-ops-audit.log").read_text()
    assert '"action":"quarantine_state"' in audit
    assert "quarantine_state" in (tmp_path / "docs" / "AGENT_AUDIT_LOG.md").read_text()
    assert json.loads(state_file.read_bytes())["safe_mode"]["quarantined"] == quarantined[0].name


def test_r27_safe_mode_survives_a_crash_right_after_quarantine(tmp_path: Path) -> None:
    state_file = tmp_path / "memory" / "orchestration-state.json"
    state_file.parent.mkdir(parents=True)
    state_file.write_bytes(b"\x00\xff garbage")
    try:
        with _store(tmp_path).transaction():
            raise RuntimeError("crash inside the run")
    except RuntimeError:
        pass
    assert json.loads(state_file.read_bytes())["safe_mode"] is not None


def test_r25_safe_mode_holds_destructive_actions(tmp_path: Path) -> None:
    state_file = tmp_path / "memory" / "orchestration-state.json"
    state_file.parent.mkdir(parents=True)
    state_file.write_text("[]")
    with _store(tmp_path).transaction() as tx:
        out = tx.request(ActionRequest("gateway_restart", "gateway", "high", "r", critical=True,
                                       restart=True))
    assert out.verdict.outcome == "needs_approval"
    assert out.verdict.limit == "safe_mode"


def test_state_from_a_newer_ctoops_is_refused_not_overwritten(tmp_path: Path) -> None:
    state_file = tmp_path / "memory" / "orchestration-state.json"
    state_file.parent.mkdir(parents=True)
    newer = json.dumps({"schema_version": SCHEMA_VERSION + 1, "future": True}).encode()
    state_file.write_bytes(newer)
    try:
        with _store(tmp_path).transaction():
            raise AssertionError("must not open")
    except StateUnavailable as exc:
        assert "newer ctoops" in str(exc)
    assert state_file.read_bytes() == newer


def test_r29_expired_intent_becomes_outcome_unknown_and_keeps_its_slot(tmp_path: Path) -> None:
    req = ActionRequest("gateway_restart", "gateway", "high", "r", critical=True, restart=True)
    with _store(tmp_path, t=1000.0).transaction() as tx:
        out = tx.request(req, lease_s=60)
    assert out.verdict.allowed
    with _store(tmp_path, t=1100.0).transaction() as tx:
        assert tx.state["intents"] == {}
        [event] = tx.state["history"]
        assert event["outcome"] == "outcome_unknown"
        assert len(tx.history()) == 1  # still counted by the budget
    assert "outcome_unknown" in (tmp_path / "logs" / "cto-ops-audit.log").read_text()


def test_r30_clock_moved_back_does_not_go_below_latest_recorded(tmp_path: Path) -> None:
    with _store(tmp_path, t=5000.0).transaction() as tx:
        assert tx.now == 5000.0
    with _store(tmp_path, t=4400.0).transaction() as tx:
        assert tx.now == 5000.0


def test_created_files_are_not_world_writable(tmp_path: Path) -> None:
    with _store(tmp_path).transaction() as tx:
        tx.decision("x", "low")
        tx.audit(__import__("ctoops.audit", fromlist=["AuditEvent"]).AuditEvent(
            "t", "s", "low", "a", "observed", "r"))
    for path in tmp_path.rglob("*"):
        assert not os.stat(path).st_mode & 0o002, path


def test_unwritable_memory_dir_is_a_clear_error_and_nothing_changes(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        # root ignores permission bits: make the state file's folder a file instead
        (tmp_path / "memory").write_text("not a folder")
    else:
        (tmp_path / "memory").mkdir(mode=0o500)
    try:
        with _store(tmp_path).transaction():
            raise AssertionError("must not open")
    except StateUnavailable as exc:
        assert "memory" in str(exc)
