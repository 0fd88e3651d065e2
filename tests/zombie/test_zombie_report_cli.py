"""`ctoops zombie-report` end to end (R22-R24): the real CLI as a child process
against a real child HTTP server that we SIGSTOP, SIGCONT and kill."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Ran, ctoops_env, run_ctoops
from tests.zombie.zombie_support import (
    FakeGateway,
    audit_lines,
    gateway_log,
    make_workspace,
    mc_output,
    start_fake_gateway,
    state,
)

WEBHOOK = "https://discord.com/api/webhooks/99887766/zzSECRETwebhookTOKENzz"
ENV = {"CTOOPS_DISCORD_WEBHOOK": WEBHOOK}


def zr(root: Path, *extra: str) -> Ran:
    return run_ctoops(["--json", *extra, "zombie-report"], root=root, env=ENV)


def actions(root: Path) -> list[str]:
    return [f"{a['action']}:{a['outcome']}" for a in audit_lines(root)]


def incidents(root: Path) -> list[Path]:
    folder = root / "logs" / "incidents"
    return sorted(folder.iterdir()) if folder.is_dir() else []


def memory(root: Path) -> dict[str, Any]:
    return state(root)["commands"]["zombie-report"]


@dataclass
class Scenario:
    root: Path
    gw: FakeGateway
    runs: dict[str, Ran] = field(default_factory=dict)
    seen: dict[str, Any] = field(default_factory=dict)


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scenario]:
    """healthy -> SIGSTOP -> suspect, suspect, zombie, zombie -> SIGCONT -> healthy."""
    base = tmp_path_factory.mktemp("zombie-scenario")
    (base / "gw").mkdir()
    gw = start_fake_gateway(base / "gw")
    root = make_workspace(base / "ws", gw, bundle_max_bytes=262144, journal_lines=50)
    (root / "memory").mkdir()
    (root / "memory" / "mc-board.json").write_text(json.dumps({"tasks": [
        {"id": "task-7", "status": "in_progress", "session": "agent:main:main"},
        {"id": "task-8", "status": "done"}]}))
    gateway_log(base / "openclaw-logs", [
        {"time": "2026-11-30T11:42:00.000+00:00", "message": f"posting to {WEBHOOK}",
         "_meta": {"logLevelName": "INFO"}},
        {"time": "2026-11-30T11:42:01.000+00:00", "message": "memory pressure: level=high",
         "_meta": {"logLevelName": "WARN"}}])
    sc = Scenario(root, gw)
    try:
        sc.runs["healthy"] = zr(root)
        gw.stop()
        for name in ("s1", "s2", "z3"):
            sc.runs[name] = zr(root)
        sc.seen["z3"] = {"audit": actions(root), "mc": mc_output(root), "state": state(root),
                         "incidents": incidents(root)}
        sc.runs["z4"] = zr(root)
        sc.seen["z4"] = {"audit": actions(root), "mc": mc_output(root), "state": state(root),
                         "incidents": incidents(root)}
        gw.cont()
        sc.runs["h5"] = zr(root)
        sc.runs["approvals"] = run_ctoops(["--json", "approvals", "list", "--all"], root=root)
        yield sc
    finally:
        gw.kill()


def test_r22_healthy_gateway_is_healthy_exit_0(scenario: Scenario) -> None:
    ran = scenario.runs["healthy"]
    assert ran.returncode == 0, ran.stderr
    doc = ran.json()
    assert doc["state"] == "healthy" and doc["status"] == "OK"
    process = next(f for f in doc["findings"] if f["check"] == "process")
    assert process["values"]["pid"] == scenario.gw.pid


def test_r22_stopped_gateway_is_suspect_twice_then_zombie(scenario: Scenario) -> None:
    got = [(scenario.runs[n].returncode, scenario.runs[n].json()["state"])
           for n in ("s1", "s2", "z3", "z4")]
    assert got == [(1, "suspect"), (1, "suspect"), (2, "zombie"), (2, "zombie")]
    z3 = scenario.runs["z3"].json()
    assert any("is stopped (T)" in r for r in z3["reasons"])
    assert z3["incident"]["status"] == "open" and z3["incident"]["id"].startswith("inc-")


def test_r22_urgent_alert_once_per_incident(scenario: Scenario) -> None:
    incident_id = scenario.runs["z3"].json()["incident"]["id"]
    alerts = [m for m in scenario.seen["z4"]["mc"] if m.get("type") == "notice"]
    assert len(alerts) == 1, alerts
    alert = alerts[0]
    assert alert["urgent"] is True and alert["active"] is True and alert["condition"] is True
    assert incident_id in alert["key"] and alert["risk"] == "high"
    assert "z3" in scenario.seen and "incident_alert:alerted" in scenario.seen["z3"]["audit"]


def test_r23_bundle_holds_the_trail_bounded_and_scrubbed(scenario: Scenario) -> None:
    incident_id = scenario.runs["z3"].json()["incident"]["id"]
    folder = scenario.root / "logs" / "incidents" / incident_id
    names = {p.name for p in folder.iterdir()}
    assert names == {"summary.md", "probes.json", "process.json", "mc-state.json",
                     "gateway-log.txt"}
    assert sum(p.stat().st_size for p in folder.iterdir()) <= 262144
    for path in folder.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o640
        assert "SECRETwebhook" not in path.read_text()
    summary = (folder / "summary.md").read_text()
    assert incident_id in summary and "journal:" in summary  # no journald here: recorded
    assert json.loads((folder / "process.json").read_text())["status"] == "stopped"
    mc = json.loads((folder / "mc-state.json").read_text())
    assert [t["id"] for t in mc["board"]["in_progress"]] == ["task-7"]
    assert "pending_approvals" in mc["ctoops"] and "flags" in mc["ctoops"]
    probes = json.loads((folder / "probes.json").read_text())
    assert probes["health"]["ready"]["answered"] is False
    assert "memory pressure" in (folder / "gateway-log.txt").read_text()


def test_r24_escalation_is_recorded_after_the_bundle(scenario: Scenario) -> None:
    trail = scenario.seen["z3"]["audit"]
    order = [trail.index(a) for a in ("incident_open:observed", "incident_alert:alerted",
                                      "incident_bundle:done", "gateway_restart:needs_approval")]
    assert order == sorted(order)
    incident = scenario.seen["z3"]["state"]["commands"]["zombie-report"]["incident"]
    approval_id = incident["escalation"]["approval_id"]
    record = scenario.seen["z3"]["state"]["approvals"][approval_id]
    assert record["status"] == "pending" and record["action"] == "gateway_restart"
    assert incident["id"] in record["reason"] and record["held_by"] == "escalation"
    assert not (scenario.root / "restarts.txt").exists()  # held, never run
    bundle_line = next(a for a in audit_lines(scenario.root) if a["action"] == "incident_bundle")
    assert bundle_line["details"]["path"] == f"logs/incidents/{incident['id']}"


def test_r22_persisting_zombie_is_one_incident(scenario: Scenario) -> None:
    z3, z4 = scenario.seen["z3"], scenario.seen["z4"]
    assert z3["incidents"] == z4["incidents"] and len(z4["incidents"]) == 1
    for event in ("incident_open:observed", "incident_bundle:done",
                  "gateway_restart:needs_approval", "incident_alert:alerted"):
        assert z4["audit"].count(event) == 1, event
    assert len(z4["state"]["approvals"]) == 1
    assert z4["mc"] == z3["mc"]


def test_r22_healthy_again_resolves_and_withdraws_the_held_restart(scenario: Scenario) -> None:
    ran = scenario.runs["h5"]
    assert ran.returncode == 0 and ran.json()["state"] == "healthy"
    mem = memory(scenario.root)
    assert mem.get("incident") is None and mem["closed"][-1]["status"] == "closed"
    resolved = [m for m in mc_output(scenario.root) if m.get("active") is False]
    assert len(resolved) == 1 and mem["closed"][-1]["id"] in resolved[0]["key"]
    approvals = scenario.runs["approvals"].json()["approvals"]
    assert [(a["status"], a["decided_by"]) for a in approvals] == [("denied", "ctoops")]
    assert "withdrawn by ctoops" in approvals[0]["decision_reason"]
    st = state(scenario.root)
    assert all(r["status"] == "closed" for r in st["review_events"])
    assert "incident_resolved:done" in actions(scenario.root)
    assert run_ctoops(["audit", "verify"], root=scenario.root).returncode == 0


# --- single cases ---------------------------------------------------------------
def test_r22_unready_and_degraded_exit_1(tmp_path: Path, fake_gateway: FakeGateway) -> None:
    root = make_workspace(tmp_path / "ws", fake_gateway)
    fake_gateway.set_mode(ready=False)
    ran = zr(root)
    assert (ran.returncode, ran.json()["state"]) == (1, "unready")
    fake_gateway.set_mode(degraded=True)
    ran = zr(root)
    assert (ran.returncode, ran.json()["state"]) == (1, "degraded")
    assert ran.stdout.count("\n") > 3 and not incidents(root)


def test_r22_readyz_hanging_while_healthz_answers_is_failing(tmp_path: Path,
                                                              fake_gateway: FakeGateway) -> None:
    root = make_workspace(tmp_path / "ws", fake_gateway, zombie_confirm_samples=1)
    fake_gateway.set_mode(readyz_hang=True)
    ran = zr(root)
    assert (ran.returncode, ran.json()["state"]) == (2, "zombie")
    assert len(incidents(root)) == 1


def test_r22_dead_gateway_exit_2_incident_after_confirmation(tmp_path: Path,
                                                             fake_gateway: FakeGateway) -> None:
    root = make_workspace(tmp_path / "ws", fake_gateway, zombie_confirm_samples=2)
    fake_gateway.kill()
    first = zr(root)
    assert (first.returncode, first.json()["state"]) == (2, "dead")
    assert first.json()["incident"] is None and not incidents(root)
    second = zr(root)
    assert (second.returncode, second.json()["state"]) == (2, "dead")
    assert second.json()["incident"]["escalation"]["kind"] == "approval"
    assert len(incidents(root)) == 1


def test_r24_no_escalation_when_the_bundle_cannot_be_written(tmp_path: Path,
                                                             fake_gateway: FakeGateway) -> None:
    root = make_workspace(tmp_path / "ws", fake_gateway, zombie_confirm_samples=1)
    (root / "logs").mkdir()
    (root / "logs" / "incidents").write_text("a file where the folder should be")
    fake_gateway.stop()
    ran = zr(root)
    assert (ran.returncode, ran.json()["state"]) == (2, "zombie")
    trail = actions(root)
    assert "incident_bundle:failed" in trail and "incident_alert:alerted" in trail
    assert not any(a.startswith("gateway_restart") for a in trail)
    assert state(root)["approvals"] == {}
    assert "cannot write the bundle" in ran.stderr
    # Fixed by an operator: the next run writes the trail, then escalates.
    (root / "logs" / "incidents").unlink()
    again = zr(root)
    trail = actions(root)
    assert again.json()["incident"]["bundle"]["path"].startswith("logs/incidents/inc-")
    assert trail.index("incident_bundle:done") < trail.index("gateway_restart:needs_approval")
    assert trail.count("incident_alert:alerted") == 1


def test_r24_auto_restart_runs_the_safe_restart_after_the_bundle(tmp_path: Path,
                                                                 fake_gateway: FakeGateway) -> None:
    root = make_workspace(tmp_path / "ws", fake_gateway, zombie_confirm_samples=1,
                          auto_restart_zombie=True)
    fake_gateway.stop()
    ran = zr(root)
    assert ran.returncode == 2
    assert (root / "restarts.txt").read_text() == "restart\n"
    trail = actions(root)
    assert trail.index("incident_bundle:done") < trail.index("gateway_restart:reserved")
    assert ran.json()["actions"]["restart"]["status"] in ("done", "failed")
    assert memory(root)["incident"]["escalation"]["kind"] == "auto_restart"
    assert zr(root).returncode == 2
    assert (root / "restarts.txt").read_text() == "restart\n"  # one incident, one restart


def test_r24_auto_restart_never_runs_without_a_bundle(tmp_path: Path,
                                                      fake_gateway: FakeGateway) -> None:
    root = make_workspace(tmp_path / "ws", fake_gateway, zombie_confirm_samples=1,
                          auto_restart_zombie=True)
    (root / "logs").mkdir()
    (root / "logs" / "incidents").write_text("not a folder")
    fake_gateway.stop()
    assert zr(root).returncode == 2
    assert not (root / "restarts.txt").exists()
    assert not any(a.startswith("gateway_restart") for a in actions(root))


def test_r22_dry_run_changes_nothing(tmp_path: Path, fake_gateway: FakeGateway) -> None:
    root = make_workspace(tmp_path / "ws", fake_gateway, zombie_confirm_samples=1)
    fake_gateway.stop()
    ran = zr(root, "--dry-run")
    assert ran.returncode == 2 and ran.json()["state"] == "zombie"
    assert ran.json()["actions"]["dry_run"][0].startswith("open an incident")
    assert not incidents(root) and not mc_output(root) and not audit_lines(root)
    assert state(root)["commands"].get("zombie-report", {}) == {}


def test_r30_overlapping_runs_open_one_incident(tmp_path: Path, fake_gateway: FakeGateway) -> None:
    """Two timers' runs at the same moment on a confirmed zombie: one incident, one
    alert, one trail, one held restart (the decision is taken under the lock)."""
    root = make_workspace(tmp_path / "ws", fake_gateway, zombie_confirm_samples=1)
    fake_gateway.stop()
    argv = [sys.executable, "-m", "ctoops", "--root", str(root), "--json", "zombie-report"]
    procs = [subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              env=ctoops_env(ENV)) for _ in range(2)]
    codes = [p.wait(timeout=60) for p in procs]
    for p in procs:
        p.stdout.close()  # type: ignore[union-attr]
        p.stderr.close()  # type: ignore[union-attr]
    assert codes == [2, 2]
    assert len(incidents(root)) == 1 and len(state(root)["approvals"]) == 1
    trail = actions(root)
    assert trail.count("incident_open:observed") == 1 and trail.count("incident_alert:alerted") == 1
