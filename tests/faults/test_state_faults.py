"""Fault injection on the foundation (issue 12): SIGKILL at random points of state
transactions and audit appends, bad state bytes, a full disk, a read-only
workspace. After each: the state parses, the audit verifies (a torn last line is
allowed and reported), no restart beyond the limits, intents are resolved."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ctoops.audit import verify
from ctoops.clock import FixedClock
from ctoops.config import load_config
from ctoops.state import StateStore, parse_state
from ctoops.workspace import Workspace
from tests.conftest import REPO, ctoops_env, run_ctoops

ITERATIONS = int(os.environ.get("CTOOPS_FAULT_ITERATIONS", "500"))

CHILD = """
import sys
from pathlib import Path
from ctoops.audit import AuditEvent
from ctoops.clock import SystemClock
from ctoops.config import load_config
from ctoops.policy.guardrails import ActionRequest
from ctoops.state import StateStore
from ctoops.workspace import Workspace
store = StateStore(Workspace(Path(sys.argv[1])), SystemClock(), "fault",
                   load_config(None).guardrails, lambda m: None)
req = ActionRequest("gateway_restart", "gateway", "high", "fault", critical=True, restart=True)
while True:
    with store.transaction() as tx:
        out = tx.request(req, {"blob": "y" * 3000}, lease_s=0.001)
        tx.decision("tick", "low", {"pad": "x" * 5000})
        for i in range(3):
            tx.audit(AuditEvent("fault", "test", "low", "tick", "observed", "z" * 2000))
    if out.event_id:
        with store.transaction() as tx:
            tx.complete(out.event_id, "done")
"""


def test_sigkill_at_random_points_of_transactions_and_audit_appends(tmp_path: Path) -> None:
    rng = random.Random(1234)
    state_file = tmp_path / "memory" / "orchestration-state.json"
    audit_log = tmp_path / "logs" / "cto-ops-audit.log"
    started = time.monotonic()
    for _ in range(ITERATIONS):
        proc = subprocess.Popen([sys.executable, "-c", CHILD, str(tmp_path)], env=ctoops_env(),
                                cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.05, 0.2))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        if state_file.exists():
            parse_state(state_file.read_bytes())
        result = verify(audit_log)
        assert result.ok, (result.bad_line, result.problem)
    assert time.monotonic() - started < 240
    store = StateStore(Workspace(tmp_path), FixedClock(time.time() + 10), "check",
                       load_config(None).guardrails, lambda m: None)
    with store.transaction() as tx:
        assert tx.state["intents"] == {}  # every interrupted intent was resolved
        restarts = [e for e in tx.state["history"] if e["restart"]]
        assert len(restarts) <= 2  # the kill-switch allowed two; no crash bought a third
        assert len(restarts) >= 1
    assert verify(audit_log).ok and not verify(audit_log).torn_tail


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.one_of(
    st.binary(max_size=300),
    st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
                 lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
                     st.sampled_from(["history", "approvals", "flags", "intents", "ts",
                                      "schema_version", "safe_mode", "x"]), inner, max_size=4),
                 max_leaves=20).map(lambda v: json.dumps(v).encode()),
))
def test_any_state_bytes_either_load_or_quarantine_never_crash(tmp_path: Path, raw: bytes
                                                               ) -> None:
    import tempfile

    root = Path(tempfile.mkdtemp(dir=tmp_path))
    (root / "memory").mkdir()
    (root / "memory" / "orchestration-state.json").write_bytes(raw)
    store = StateStore(Workspace(root), FixedClock(1e9), "fuzz", load_config(None).guardrails,
                       lambda m: None)
    with store.transaction() as tx:
        tx.history()
    parse_state((root / "memory" / "orchestration-state.json").read_bytes())


def test_deeply_nested_state_is_quarantined(tmp_path: Path) -> None:
    (tmp_path / "memory").mkdir()
    (tmp_path / "memory" / "orchestration-state.json").write_bytes(b"[" * 200_000 + b"]" * 200_000)
    ran = run_ctoops(["--json", "status"], root=tmp_path)
    assert ran.returncode == 2 and ran.json()["safe_mode"] is not None


@pytest.fixture
def tiny_disk(tmp_path: Path):
    mount = tmp_path / "tiny"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)],
                      capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root in a namespace that allows it)")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_disk_full_gives_a_clear_error_no_partial_files_and_no_restart(tiny_disk: Path) -> None:
    root = tiny_disk
    (root / "config").mkdir()
    marker = root.parent / "restarted"
    (root / "config" / "ctoops.yaml").write_text(
        "gateway:\n  restart_command: [touch, " + str(marker) + "]\n"
        "notify:\n  restart_notice_delay_s: 0\n  order: [mc_output]\n")
    assert run_ctoops(["status"], root=root).returncode == 0
    before = (root / "memory" / "orchestration-state.json").read_bytes()
    filler = root / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        while os.write(fd, b"\0" * 4096):
            continue
    except OSError as exc:
        assert exc.errno == 28  # ENOSPC: the disk is now full
    finally:
        os.close(fd)
    ran = run_ctoops(["safe-restart", "--reason", "disk full drill"], root=root)
    assert ran.returncode == 1, ran.stderr
    assert "No space left" in ran.stderr or "cannot write" in ran.stderr
    assert "Traceback" not in ran.stderr
    assert not marker.exists()  # never restart what could not be recorded
    assert (root / "memory" / "orchestration-state.json").read_bytes() == before
    assert not list((root / "memory").glob("*.tmp"))
    filler.unlink()
    assert verify(root / "logs" / "cto-ops-audit.log").ok


def test_read_only_workspace_is_a_clear_error(tmp_path: Path) -> None:
    root = tmp_path / "ro"
    (root / "config").mkdir(parents=True)
    (root / "config" / "ctoops.yaml").write_text("{}\n")
    assert run_ctoops(["status"], root=root).returncode == 0
    if subprocess.run(["mount", "--bind", str(root), str(root)], capture_output=True).returncode:
        pytest.skip("cannot bind-mount here")
    try:
        subprocess.run(["mount", "-o", "remount,ro,bind", str(root)], check=True)
        ran = run_ctoops(["status"], root=root)
        assert ran.returncode == 3 and "Read-only" in ran.stderr and "Traceback" not in ran.stderr
        held = run_ctoops(["safe-restart", "--reason", "ro"], root=root)
        assert held.returncode == 1
        assert run_ctoops(["gate", "spawn"], root=root).returncode == 0  # reads only
    finally:
        subprocess.run(["umount", "-l", str(root)], check=False)
