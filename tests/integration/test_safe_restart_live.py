"""safe-restart against a LIVE openclaw@2026.9.6 gateway (R13-R16, R26).

`gateway.restart_command` is tests/integration/gateway_supervisor.py, which does
what systemd does: SIGTERM the running gateway, wait for it to go, start the same
gateway again (same HOME, port, token, cgroup) detached, record its PID. The real
sequence runs end to end: memory measured on the real process before and after,
the gateway's own `openclaw tasks maintenance` as the SQLite-era prune, the
restart, /readyz ready again, the lesson with both numbers, the intent completed.
Another gateway (the shared one) runs on the host meanwhile: ctoops must measure
and restart the one on its health port, never its neighbour.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from ctoops.policy.restart import human_bytes
from tests.conftest import run_ctoops, write_config
from tests.integration.cgroups import MemoryCgroup, memory_cgroup
from tests.integration.conftest import SharedGateway
from tests.integration.openclaw_gateway import (
    SUPERVISOR,
    OpenClawInstall,
    RunningGateway,
    gone,
    start_gateway,
    stop_gateway,
)

pytestmark = pytest.mark.integration

STEPS = ["reserve", "rate_limit", "prune", "cleanup", "notify", "wait", "restart", "confirm"]


def workspace_for(root: Path, gw: RunningGateway, install: OpenClawInstall,
                  cgroup: MemoryCgroup | None) -> Path:
    write_config(root, {
        "gateway": {"health_url": gw.url, "state_dir": str(gw.state_dir),
                    "log_dir": str(gw.log_dir), "process_name": "openclaw-gateway",
                    "cgroup": str(cgroup.path) if cgroup else "auto",
                    "openclaw_bin": str(install.openclaw("gw96").parents[1] / ".bin" / "openclaw"),
                    "restart_command": [sys.executable, str(SUPERVISOR), "restart",
                                        str(gw.spec.spec_file)],
                    "restart_timeout_s": 120, "ready_timeout_s": 120, "settle_s": 1,
                    "probe_timeout_s": 2.0},
        "notify": {"restart_notice_delay_s": 0, "order": ["mc_output"]}})
    return root


def lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


@pytest.fixture
def gateway_in_cgroup(openclaw_install: OpenClawInstall, tmp_path: Path
                      ) -> Iterator[tuple[RunningGateway, MemoryCgroup | None]]:
    """A gateway of this test's own (it gets restarted), in a memory cgroup of its
    own where the machine allows one; whichever generation runs at the end is
    stopped, then the cgroup removed."""
    with memory_cgroup() as (cgroup, _why):
        gw = start_gateway(openclaw_install, tmp_path / "gw",
                           cgroup=cgroup.path if cgroup else None)
        try:
            yield gw, cgroup
        finally:
            stop_gateway(gw)


def test_r13_r14_safe_restart_of_the_live_gateway_through_a_supervisor(
        openclaw_install: OpenClawInstall, shared_gateway: SharedGateway,
        gateway_in_cgroup: tuple[RunningGateway, MemoryCgroup | None], tmp_path: Path) -> None:
    gw, cgroup = gateway_in_cgroup
    neighbour = shared_gateway.gw
    root = workspace_for(tmp_path / "ws", gw, openclaw_install, cgroup)
    old_pid = gw.pid
    rss_seen = psutil.Process(old_pid).memory_info().rss
    path = f"{openclaw_install.node_bin}{os.pathsep}{os.environ['PATH']}"
    ran = run_ctoops(["--json", "safe-restart", "--reason", "live gateway drill"], root=root,
                     env={"PATH": path}, timeout=300)
    assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-2000:]
    report = ran.json()
    gw.pid = new_pid = gw.recorded_pid()

    # all steps done, in order, in logs/gateway-safe-restart.log (R16)
    assert report["status"] == "done" and report["outcome"] == "done"
    assert [(s["step"], s["name"], s["status"]) for s in report["steps"]] == [
        (n, name, "done") for n, name in enumerate(STEPS)], report["steps"]
    log = (root / "logs" / "gateway-safe-restart.log").read_text()
    event = report["event_id"]
    at = [log.index(f"[{event}] step {n} {name}: done") for n, name in enumerate(STEPS)]
    assert at == sorted(at)

    # step 2 in the SQLite era is the gateway's own maintenance, preview then apply
    prune = report["prune"]
    assert prune["era"] == "sqlite" and prune["status"] == "done", prune
    assert prune["maintenance"]["preview"]["mode"] == "preview"
    assert prune["maintenance"]["applied"]["mode"] == "apply"
    assert "sessions" in prune["maintenance"]["applied"]["maintenance"]

    # the restart was real: a new gateway process answers, the old one is gone
    assert new_pid != old_pid and gone(old_pid)
    assert psutil.Process(new_pid).name() == "openclaw-gateway"
    assert report["confirm"]["ready"] is True and report["confirm"]["fresh_process"] == "yes"
    assert (gw.readyz() or {}).get("ready") is True
    assert f"started {new_pid}" in (gw.spec.folder / "supervisor.log").read_text()

    # memory measured on the real processes, before and after (R14)
    before = report["steps"][0]["details"]["memory"]
    after = report["confirm"]["memory_after"]
    assert (before["pid"], before["found_by"]) == (old_pid, "name+port")
    assert abs(before["rss_bytes"] - rss_seen) < 0.25 * rss_seen
    assert after["pid"] == new_pid and after["rss_bytes"] > 50 << 20
    numbers = report["confirm"]["numbers"]
    assert numbers["metric"] == "tree RSS"
    assert (numbers["before_bytes"], numbers["after_bytes"]) == (
        before["tree_rss_bytes"], after["tree_rss_bytes"])
    if cgroup is not None:
        assert before["cgroup_path"] == after["cgroup_path"] == str(cgroup.path)
        assert before["cgroup_usage_bytes"] > 50 << 20 and after["cgroup_usage_bytes"] > 50 << 20
        assert str(new_pid) in cgroup.pids()

    # the lesson names both numbers and both processes (R14, R26)
    lessons = (root / "memory" / "lessons.md").read_text()
    assert report["lesson"]["title"] in lessons
    for words in (human_bytes(numbers["before_bytes"]), human_bytes(numbers["after_bytes"]),
                  f"(pid {old_pid})", f"(pid {new_pid})"):
        assert words in lessons

    # the intent is completed done, the audit chain intact
    state = json.loads((root / "memory" / "orchestration-state.json").read_text())
    assert state["intents"] == {}
    assert state["commands"]["safe-restart"]["last"]["outcome"] == "done"
    audit = [(a["action"], a["outcome"]) for a in lines(root / "logs" / "cto-ops-audit.log")]
    assert ("gateway_restart", "reserved") in audit and ("gateway_restart", "done") in audit
    assert run_ctoops(["audit", "verify"], root=root).returncode == 0
    kinds = [n["kind"] for n in lines(root / "logs" / "mc-output.jsonl")
             if n.get("type") == "notice"]
    assert kinds == ["restart_coming", "restart_back"]

    # the neighbour gateway was neither measured nor touched
    assert not gone(neighbour.pid) and (neighbour.readyz() or {}).get("ready") is True
