"""`ctoops safe-restart` end to end (R7, R13-R16), run as a real CLI process against
a real stand-in gateway process (HTTP /healthz and /readyz on 127.0.0.1, real
memory) that `gateway.restart_command` really stops and starts."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil
import pytest
from filelock import FileLock

from benchmarks.storegen import generate
from tests.conftest import ctoops_env, run_ctoops, write_config
from tests.restart.helpers import FakeGateway, free_port, tree_hashes

TS = "2026-05-01T10-20-30.123Z"
MIB = 1 << 20


def setup_workspace(tmp_path: Path, gw: FakeGateway | None, **over: Any) -> tuple[Path, Any]:
    """A workspace whose gateway is the fake one, with a generated legacy state."""
    root = tmp_path / "ws"
    root.mkdir(exist_ok=True)
    state = tmp_path / "openclaw-state"
    gen = generate(state, agents=("main",), jobs=4, runs_per_job=12, groups=3,
                   blob_min=2000, blob_max=6000, now_ms=int(time.time() * 1000))
    sessions = state / "agents" / "main" / "sessions"
    (sessions / f"old.jsonl.deleted.{TS}").write_bytes(b"d" * 5000)
    (state / "sessions.json.corrupt-1780000000000").write_bytes(b"c" * 700)
    gateway: dict[str, Any] = {
        "state_dir": str(state), "ready_timeout_s": 20, "settle_s": 0.3,
        "restart_timeout_s": 60, "probe_timeout_s": 1.0, "log_dir": str(tmp_path / "oc-logs")}
    if gw is not None:
        gateway.update(restart_command=gw.supervisor("restart", "--bloat", "0"),
                       health_url=gw.url, process_name=gw.name)
    gateway.update(over.pop("gateway", {}))
    config = {"gateway": gateway,
              "notify": {"restart_notice_delay_s": 0.2, "order": ["mc_output"]}, **over}
    write_config(root, config)
    return root, gen


def audit_records(root: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (root / "logs" / "cto-ops-audit.log").read_text()
            .splitlines()]


def notices(root: Path) -> list[dict[str, Any]]:
    path = root / "logs" / "mc-output.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_r13_full_sequence_against_a_real_gateway_process(tmp_path: Path,
                                                          fake_gateway: FakeGateway) -> None:
    root, gen = setup_workspace(tmp_path, fake_gateway)
    old_pid = fake_gateway.start(bloat_mb=150)
    ran = run_ctoops(["--json", "safe-restart", "--reason", "gateway memory at 91% of MemoryHigh"],
                     root=root)
    assert ran.returncode == 0, ran.stderr
    report = ran.json()
    assert report["status"] == "done" and report["outcome"] == "done"
    assert [(s["step"], s["status"]) for s in report["steps"]] == [
        (0, "done"), (1, "done"), (2, "done"), (3, "done"), (4, "done"), (5, "done"),
        (6, "done"), (7, "done")]
    # memory of the real process before and after, and the lesson (R14, R26)
    numbers = report["confirm"]["numbers"]
    assert numbers["metric"] == "tree RSS"
    assert numbers["before_bytes"] > 150 * MIB > 60 * MIB > numbers["after_bytes"]
    assert numbers["reduction_pct"] > 50 and numbers["verdict"] == "above"
    lessons = (root / "memory" / "lessons.md").read_text()
    assert f"Gateway restart freed {numbers['reduction_pct']:g}% memory (expected 50-60%)" in lessons
    assert "the prune held" in lessons
    # the gateway really restarted: a new process answers, the old one is gone
    new_pid = fake_gateway.pid()
    assert new_pid != old_pid and report["confirm"]["memory_after"]["pid"] == new_pid
    assert not psutil.pid_exists(old_pid) or psutil.Process(old_pid).status() == "zombie"
    # step 2 and 3 did their work on the real files
    store = gen.stores["main"]
    assert store.path.read_bytes() == store.expected_after_prune()
    assert report["prune"]["removed"] == len(store.dead) > 0
    assert report["confirm"]["prune_check"]["stuck"] is True
    assert report["cleanup"]["removed"] == 2 and report["cleanup"]["bytes_freed"] == 5700
    # every step logged (R16) and audited, the chain intact
    log = (root / "logs" / "gateway-safe-restart.log").read_text()
    event = report["event_id"]
    for number, name in enumerate(["reserve", "rate_limit", "prune", "cleanup", "notify",
                                   "wait", "restart", "confirm"]):
        assert f"[{event}] step {number} {name}: done" in log
    actions = [(r["action"], r["outcome"]) for r in audit_records(root)]
    assert ("gateway_restart", "reserved") in actions and ("gateway_restart", "done") in actions
    assert [a for a, _ in actions if a.startswith("restart_step_")] == [
        f"restart_step_{n}_{name}" for n, name in enumerate(
            ["reserve", "rate_limit", "prune", "cleanup", "notify", "wait", "restart",
             "confirm"])]
    assert run_ctoops(["audit", "verify"], root=root).returncode == 0
    # the notices: "coming" with the reason and channel, then "back"
    kinds = [n["kind"] for n in notices(root)]
    assert kinds == ["restart_coming", "restart_back"]
    coming = notices(root)[0]
    assert "#general-luna" in coming["body"] and "91% of MemoryHigh" in coming["body"]
    state = json.loads((root / "memory" / "orchestration-state.json").read_text())
    assert state["intents"] == {}
    assert state["commands"]["safe-restart"]["last"]["outcome"] == "done"


def test_r30_racing_run_is_refused_at_once_and_the_lock_is_not_held(
        tmp_path: Path, fake_gateway: FakeGateway) -> None:
    root, _ = setup_workspace(tmp_path, fake_gateway, gateway={
        "restart_command": fake_gateway.supervisor("restart", "--hold", "4")})
    fake_gateway.start()
    first = subprocess.Popen([sys.executable, "-m", "ctoops", "--root", str(root), "--json",
                              "safe-restart", "--reason", "first"], env=ctoops_env(),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while not (fake_gateway.dir / "restarting").exists():  # the first is inside step 6
            assert time.monotonic() < deadline and first.poll() is None
            time.sleep(0.05)
        with FileLock(str(root / "memory" / ".ctoops.lock"), timeout=0.5):
            pass  # the workspace lock is free while the restart runs
        started = time.monotonic()
        second = run_ctoops(["--json", "safe-restart", "--reason", "second"], root=root)
        took = time.monotonic() - started
        assert second.returncode == 75, second.stderr
        assert "already in progress" in second.json()["summary"]
        assert first.poll() is None, "the second run must be answered before the first ends"
        assert took < 4
        assert (fake_gateway.dir / "restarting").exists()
        with FileLock(str(root / "memory" / ".ctoops.lock"), timeout=0.5):
            pass
    finally:
        _, err = first.communicate(timeout=60)
    assert first.returncode == 0, err
    refused = [r for r in audit_records(root) if r["outcome"] == "refused"]
    assert len(refused) == 1 and "already in progress" in refused[0]["reason"]
    assert len(fake_gateway.argv_log()) == 2  # the start, and one restart only


def test_r13_dry_run_walks_every_step_and_changes_nothing(tmp_path: Path,
                                                         fake_gateway: FakeGateway) -> None:
    root, gen = setup_workspace(tmp_path, fake_gateway)
    pid = fake_gateway.start()
    for folder in ("docs", "logs", "memory"):  # as in any workspace that has run once
        (root / folder).mkdir()
    audit_files = ("cto-ops-audit.log", "AGENT_AUDIT_LOG.md", "orchestration-state.json",
                   ".ctoops.lock")
    before = tree_hashes(root, gen.state_dir, ignore=audit_files)
    ran = run_ctoops(["--json", "--dry-run", "safe-restart", "--reason", "drill"], root=root)
    assert ran.returncode == 0, ran.stderr
    report = ran.json()
    assert report["status"] == "dry_run"
    assert [s["step"] for s in report["steps"]] == list(range(8))
    assert all(s["status"] == "dry_run" for s in report["steps"])
    assert report["prune"]["removed"] == len(gen.stores["main"].dead) > 0
    assert report["cleanup"]["removed"] == 2
    assert "would run" in report["steps"][6]["summary"]
    assert tree_hashes(root, gen.state_dir, ignore=audit_files) == before
    assert fake_gateway.pid() == pid and len(fake_gateway.argv_log()) == 1
    assert [r["outcome"] for r in audit_records(root)] == ["dry_run"]


def test_r15_reason_with_shell_metacharacters_is_never_executed(tmp_path: Path,
                                                                fake_gateway: FakeGateway) -> None:
    markers = [tmp_path / f"pwned{i}" for i in range(3)]
    reason = (f"$(touch {markers[0]}); `touch {markers[1]}` | rm -rf / ; && echo x > {markers[2]}"
              " 'single' \"double\" \\ {reason} %s")
    root, _ = setup_workspace(tmp_path, fake_gateway, gateway={
        "restart_command": fake_gateway.supervisor("restart", "{reason}")})
    fake_gateway.start()
    ran = run_ctoops(["--json", "safe-restart", "--reason", reason], root=root)
    assert ran.returncode == 0, ran.stderr
    assert not any(m.exists() for m in markers)
    argv = fake_gateway.argv_log()[-1]
    assert argv[-1] == reason  # configured to receive it: verbatim, one argument
    reserved = next(r for r in audit_records(root) if r["outcome"] == "reserved")
    assert reserved["reason"] == reason


def test_r15_reason_reaches_the_restart_command_only_if_configured(tmp_path: Path,
                                                                   fake_gateway: FakeGateway
                                                                   ) -> None:
    root, _ = setup_workspace(tmp_path, fake_gateway)
    fake_gateway.start()
    ran = run_ctoops(["safe-restart", "--reason", "$(id) plain"], root=root)
    assert ran.returncode == 0, ran.stderr
    assert fake_gateway.argv_log()[-1] == fake_gateway.supervisor("restart", "--bloat", "0")[2:]


def test_r13_gateway_whose_process_is_not_found_is_still_restarted(
        tmp_path: Path, fake_gateway: FakeGateway) -> None:
    root, _ = setup_workspace(tmp_path, fake_gateway,
                              gateway={"process_name": "no-such-gateway-ctoops-test"})
    fake_gateway.start()
    ran = run_ctoops(["--json", "safe-restart", "--reason", "zombie suspected"], root=root)
    assert ran.returncode == 0, ran.stderr
    assert len(fake_gateway.argv_log()) == 2
    lessons = (root / "memory" / "lessons.md").read_text()
    assert "memory reduction unavailable" in lessons
    assert "measurement unavailable (before): no process found" in lessons


def test_r13_failed_restart_command_completes_the_intent_as_failed(
        tmp_path: Path, fake_gateway: FakeGateway) -> None:
    root, _ = setup_workspace(tmp_path, fake_gateway, gateway={
        "restart_command": fake_gateway.supervisor("restart", "--fail")})
    fake_gateway.start()
    ran = run_ctoops(["--json", "safe-restart", "--reason", "try"], root=root)
    assert ran.returncode == 1
    report = ran.json()
    assert report["failed_step"] == "6 restart" and report["restart"]["returncode"] == 5
    assert "unit not found" in report["restart"]["output_tail"]
    done = [r for r in audit_records(root) if r["action"] == "gateway_restart"]
    assert done[-1]["outcome"] == "failed" and done[-1]["details"]["failed_step"] == "6 restart"
    assert notices(root)[-1]["kind"] == "restart_failed" and notices(root)[-1]["urgent"]
    assert "Gateway restart failed at 6 restart" in (root / "memory" / "lessons.md").read_text()
    state = json.loads((root / "memory" / "orchestration-state.json").read_text())
    assert state["intents"] == {}


def test_r13_gateway_not_ready_in_time_fails_at_step_7(tmp_path: Path) -> None:
    root, _ = setup_workspace(tmp_path, None, gateway={
        "restart_command": [sys.executable, "-c", "pass"],
        "health_url": f"http://127.0.0.1:{free_port()}", "ready_timeout_s": 1})
    ran = run_ctoops(["--json", "safe-restart", "--reason", "try"], root=root)
    assert ran.returncode == 1
    assert ran.json()["failed_step"] == "7 confirm"
    log = (root / "logs" / "gateway-safe-restart.log").read_text()
    assert "step 7 confirm: failed - NOT ready" in log


def _history(n: int, now: float) -> list[dict[str, Any]]:
    return [{"id": f"act-old{i}", "ts": now - 60 * (i + 1), "action": "gateway_restart",
             "subsystem": "gateway", "risk": "high", "critical": True, "restart": True,
             "auto": True, "outcome": "done"} for i in range(n)]


def test_r7_spent_budget_refuses_with_75_and_runs_nothing(tmp_path: Path) -> None:
    root, gen = setup_workspace(tmp_path, None)
    (root / "memory").mkdir()
    (root / "memory" / "orchestration-state.json").write_text(json.dumps(
        {"schema_version": 1, "history": _history(3, time.time())}))
    before = tree_hashes(gen.state_dir)
    ran = run_ctoops(["safe-restart", "--auto", "--reason", "again"], root=root)
    assert ran.returncode == 75
    assert not (root / "restarts.txt").exists()
    assert tree_hashes(gen.state_dir) == before
    assert "[refused] step 1 rate-limit: restart budget spent" in (
        root / "logs" / "gateway-safe-restart.log").read_text()
    refused = audit_records(root)[-1]
    assert refused["outcome"] == "refused" and refused["auto"] is True


def test_r25_kill_switch_holds_then_an_approval_runs_the_sequence(
        tmp_path: Path, fake_gateway: FakeGateway) -> None:
    root, _ = setup_workspace(tmp_path, fake_gateway,
                              guardrails={"restarts_per_window": 10})
    (root / "memory").mkdir()
    (root / "memory" / "orchestration-state.json").write_text(json.dumps(
        {"schema_version": 1, "history": _history(2, time.time())}))
    fake_gateway.start()
    held = run_ctoops(["--json", "safe-restart", "--reason", "third in 5 min"], root=root)
    assert held.returncode == 77
    approval = held.json()["approval_id"]
    assert len(fake_gateway.argv_log()) == 1
    ran = run_ctoops(["--json", "approvals", "approve", approval, "--reason", "checked"],
                     root=root)
    assert ran.returncode == 0, ran.stderr
    assert ran.json()["outcome"] == "done" and len(fake_gateway.argv_log()) == 2


@pytest.mark.parametrize("use_path", [True, False])
def test_r15_wrapper_script_execs_ctoops_with_the_same_arguments(tmp_path: Path,
                                                                 use_path: bool) -> None:
    repo = Path(__file__).resolve().parents[2]
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python3").write_text(f'#!/bin/sh\nexec {sys.executable} "$@"\n')
    (bin_dir / "python3").chmod(0o755)
    if use_path:  # an installed ctoops on PATH: the wrapper must exec exactly it
        fake = bin_dir / "ctoops"
        fake.write_text(f"#!/bin/sh\nprintf '%s\\n' \"$CTOOPS_ROOT\" \"$@\" > {tmp_path}/args\n")
        fake.chmod(0o755)
    root = tmp_path / "ws"
    write_config(root, {"gateway": {"restart_command": [
        sys.executable, "-c", f"open({str(tmp_path / 'restarted')!r}, 'w').write('1')"],
        "health_url": f"http://127.0.0.1:{free_port()}", "ready_timeout_s": 0,
        "state_dir": str(tmp_path / "none")}, "notify": {"restart_notice_delay_s": 0,
                                                         "order": ["mc_output"]}})
    env = {**ctoops_env(), "PATH": f"{bin_dir}:/usr/bin:/bin", "CTOOPS_ROOT": str(root)}
    env.pop("PYTHONPATH")
    reason = "it's $(high) memory"
    proc = subprocess.run(["bash", str(repo / "scripts" / "gateway-safe-restart.sh"), "--auto",
                           "--reason", reason], env=env, capture_output=True, text=True,
                          timeout=60)
    if use_path:
        assert proc.returncode == 0, proc.stderr
        assert (tmp_path / "args").read_text().splitlines() == [
            str(root), "safe-restart", "--auto", "--reason", reason]
    else:  # python3 -m ctoops from the checkout the script lives in
        assert proc.returncode == 1, proc.stderr  # restarted; not ready within 0 s
        assert (tmp_path / "restarted").exists()
        assert "step 6 restart: done" in (root / "logs" / "gateway-safe-restart.log").read_text()


def test_r13_a_crash_in_the_prune_is_recorded_and_the_restart_still_happens(
        tmp_path: Path, fake_gateway: FakeGateway, monkeypatch: pytest.MonkeyPatch) -> None:
    from ctoops.actions import dead_runs
    from ctoops.commands import safe_restart
    from ctoops.context import Context

    root, gen = setup_workspace(tmp_path, fake_gateway)
    fake_gateway.start()
    original = gen.stores["main"].path.read_bytes()

    def crash(*args: object, **kwargs: object) -> None:
        raise RuntimeError("a bug in the prune")

    monkeypatch.setattr(dead_runs, "prune_dead_runs", crash)
    ctx = Context(root_option=str(root))
    ctx.command = "safe-restart"
    report = safe_restart.run(ctx, "memory high", auto=True)
    assert report.exit_code == 0 and report.status == "done"
    assert "(problems at step 2 prune)" in report.summary
    step2 = report.data["steps"][2]
    assert step2["status"] == "failed" and "RuntimeError: a bug in the prune" in step2["summary"]
    assert len(fake_gateway.argv_log()) == 2  # restarted all the same
    assert gen.stores["main"].path.read_bytes() == original
    log = (root / "logs" / "gateway-safe-restart.log").read_text()
    assert "step 2 prune: failed - the prune crashed: RuntimeError" in log


def test_r13_relative_state_dir_is_relative_to_the_workspace(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    gen = generate(root / "gwstate", agents=("main",), jobs=2, runs_per_job=6, groups=1,
                   blob_min=100, blob_max=200, now_ms=int(time.time() * 1000))
    write_config(root, {"gateway": {"state_dir": "gwstate", "restart_command": ["true"]},
                        "notify": {"restart_notice_delay_s": 0, "order": ["mc_output"]}})
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    ran = run_ctoops(["--json", "--dry-run", "safe-restart", "--reason", "r"], root=root,
                     cwd=elsewhere)
    assert ran.returncode == 0, ran.stderr
    assert ran.json()["prune"]["removed"] == len(gen.stores["main"].dead) > 0
