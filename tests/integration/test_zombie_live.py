"""zombie-report against the real OpenClaw 2026.9.6 gateway (R22-R24).

healthy -> SIGSTOP its process (a real zombie: PID alive in state T, probes time
out) -> zombie after the confirm samples: an urgent alert reaches the local
Discord-like server, then the trail is written, its audit line names the folder,
and only then is a restart held for a person -> SIGCONT -> healthy, the incident
resolved, a resolved message on Discord, the held restart withdrawn.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Ran, run_ctoops, write_config
from tests.fakes.discord_server import FakeDiscord
from tests.integration.openclaw_gateway import RunningGateway

pytestmark = pytest.mark.integration


def workspace_for(root: Path, gw: RunningGateway, discord: FakeDiscord) -> Path:
    write_config(root, {
        "gateway": {"health_url": gw.url, "state_dir": str(gw.state_dir),
                    "log_dir": str(gw.log_dir), "process_name": "openclaw-gateway",
                    "probe_timeout_s": 1.5,
                    "restart_command": [sys.executable, "-c",
                                        f"open({str(root / 'restarts.txt')!r}, 'a').write('x')"]},
        "notify": {"order": ["discord_webhook", "mc_output"], "restart_notice_delay_s": 0,
                   "discord": {"webhook_url": discord.webhook_url, "timeout_s": 2.0}},
        "zombie": {"zombie_confirm_samples": 3, "journal_lines": 200}})
    return root


def report(root: Path) -> Ran:
    return run_ctoops(["--json", "zombie-report"], root=root)


def until(root: Path, state: str, timeout_s: float = 60.0) -> Ran:
    """Busy 2-core boxes may show a degraded event loop for a while after start-up
    or SIGCONT: re-run (each run is a sample) until the wanted verdict."""
    deadline = time.monotonic() + timeout_s
    while True:
        ran = report(root)
        if ran.stdout.strip() and ran.json()["state"] == state:
            return ran
        if time.monotonic() > deadline:
            raise AssertionError(f"never {state}: {ran.stdout[-2000:]} {ran.stderr[-1000:]}")
        time.sleep(2)


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


def wait_stopped(pid: int) -> None:
    for _ in range(250):
        stat = Path(f"/proc/{pid}/stat").read_text()
        if stat[stat.rfind(")") + 2:][:1] == "T":
            return
        time.sleep(0.02)
    raise AssertionError(f"{pid} did not stop")


def test_r22_r24_live_gateway_zombie_alert_trail_escalation_and_resolution(
        openclaw_gateway: RunningGateway, discord_server: FakeDiscord, tmp_path: Path) -> None:
    gw = openclaw_gateway
    root = workspace_for(tmp_path / "ws", gw, discord_server)

    healthy = until(root, "healthy")
    doc = healthy.json()
    assert healthy.returncode == 0
    found = {f["check"]: f["values"] for f in doc["findings"]}
    assert found["process"]["pid"] == gw.pid and found["process"]["found_by"] == "lease"
    assert found["liveness_lease"]["status"] == "ok" and not found["liveness_lease"]["expired"]
    assert found["log_freshness"]["age_s"] is not None and found["log_freshness"]["age_s"] < 600
    assert discord_server.messages == []

    os.kill(gw.pid, signal.SIGSTOP)
    wait_stopped(gw.pid)
    verdicts = [report(root) for _ in range(3)]
    assert [(r.returncode, r.json()["state"]) for r in verdicts] == \
        [(1, "suspect"), (1, "suspect"), (2, "zombie")], verdicts[-1].stderr
    incident = verdicts[-1].json()["incident"]
    iid = incident["id"]
    # the trail, from the real stopped process and the gateway's own log
    folder = root / "logs" / "incidents" / iid
    assert (folder / "summary.md").is_file()
    assert json.loads((folder / "process.json").read_text())["status"] == "stopped"
    assert "gateway" in (folder / "gateway-log.txt").read_text()
    # the urgent alert reached Discord (and only Discord: it delivered)
    [alert] = discord_server.messages
    assert iid in json.dumps(alert) and "zombie" in json.dumps(alert).lower()
    assert [m for m in lines(root / "logs" / "mc-output.jsonl") if m.get("type") == "notice"] == []
    # the escalation order in the audit log: alert, bundle (naming it), held restart
    audit = lines(root / "logs" / "cto-ops-audit.log")
    trail = [f"{a['action']}:{a['outcome']}" for a in audit]
    order = ["incident_open:observed", "incident_alert:alerted", "incident_bundle:done",
             "gateway_restart:needs_approval"]
    assert [trail.index(step) for step in order] == sorted(trail.index(step) for step in order)
    alerted = audit[trail.index("incident_alert:alerted")]
    assert [d["channel"] for d in alerted["details"]["deliveries"] if d["delivered"]] == [
        "discord_webhook"]
    bundled = audit[trail.index("incident_bundle:done")]
    assert f"logs/incidents/{iid}" in bundled["reason"] and bundled["details"]["path"] == \
        f"logs/incidents/{iid}"
    held = audit[trail.index("gateway_restart:needs_approval")]
    assert iid in held["reason"]

    assert report(root).returncode == 2  # still a zombie: the same incident, no new alert
    assert len(list((root / "logs" / "incidents").iterdir())) == 1
    assert len(discord_server.messages) == 1

    os.kill(gw.pid, signal.SIGCONT)
    back = until(root, "healthy")
    assert back.returncode == 0
    assert len(discord_server.messages) == 2
    resolved = json.dumps(discord_server.messages[1])
    assert iid in resolved and "resolved" in resolved.lower()
    approvals = run_ctoops(["--json", "approvals", "list", "--all"], root=root).json()["approvals"]
    assert [(a["status"], a["decided_by"]) for a in approvals] == [("denied", "ctoops")]
    assert not (root / "restarts.txt").exists()
    assert run_ctoops(["audit", "verify"], root=root).returncode == 0
