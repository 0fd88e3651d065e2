"""zombie-report against the real OpenClaw 2026.9.6 gateway (R22-R24).

healthy -> SIGSTOP its process (a real zombie: PID alive in state T, probes time
out) -> zombie after the confirm samples, with the trail, the alert and the
escalation in that order -> SIGCONT -> healthy and resolved. The alert goes to
the mc-output fallback (the only channel configured here; the Discord-like local
server belongs to the notifications suite).
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
from tests.integration.openclaw_gateway import RunningGateway

pytestmark = pytest.mark.integration


def workspace_for(root: Path, gw: RunningGateway) -> Path:
    write_config(root, {
        "gateway": {"health_url": gw.url, "state_dir": str(gw.state_dir),
                    "log_dir": str(gw.log_dir), "process_name": "openclaw-gateway",
                    "probe_timeout_s": 1.5,
                    "restart_command": [sys.executable, "-c",
                                        f"open({str(root / 'restarts.txt')!r}, 'a').write('x')"]},
        "notify": {"order": ["mc_output"], "restart_notice_delay_s": 0},
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


def test_r22_r24_live_gateway_zombie_incident_and_resolution(
        openclaw_gateway: RunningGateway, tmp_path: Path) -> None:
    gw = openclaw_gateway
    root = workspace_for(tmp_path / "ws", gw)

    healthy = until(root, "healthy")
    doc = healthy.json()
    assert healthy.returncode == 0
    found = {f["check"]: f["values"] for f in doc["findings"]}
    assert found["process"]["pid"] == gw.pid and found["process"]["found_by"] == "lease"
    assert found["liveness_lease"]["status"] == "ok" and not found["liveness_lease"]["expired"]
    assert found["log_freshness"]["age_s"] is not None and found["log_freshness"]["age_s"] < 600

    os.kill(gw.pid, signal.SIGSTOP)
    wait_stopped(gw.pid)
    verdicts = [report(root) for _ in range(3)]
    assert [(r.returncode, r.json()["state"]) for r in verdicts] == \
        [(1, "suspect"), (1, "suspect"), (2, "zombie")], verdicts[-1].stderr
    incident = verdicts[-1].json()["incident"]
    folder = root / "logs" / "incidents" / incident["id"]
    assert (folder / "summary.md").is_file()
    assert json.loads((folder / "process.json").read_text())["status"] == "stopped"
    assert "gateway" in (folder / "gateway-log.txt").read_text()

    alerts = [m for m in lines(root / "logs" / "mc-output.jsonl") if m.get("active") is True]
    assert len(alerts) == 1 and alerts[0]["urgent"] and incident["id"] in alerts[0]["key"]
    trail = [f"{a['action']}:{a['outcome']}" for a in lines(root / "logs" / "cto-ops-audit.log")]
    assert trail.index("incident_bundle:done") < trail.index("gateway_restart:needs_approval")

    assert report(root).returncode == 2  # still a zombie: the same incident
    assert len(list((root / "logs" / "incidents").iterdir())) == 1

    os.kill(gw.pid, signal.SIGCONT)
    back = until(root, "healthy")
    assert back.returncode == 0
    resolved = [m for m in lines(root / "logs" / "mc-output.jsonl") if m.get("active") is False]
    assert len(resolved) == 1 and incident["id"] in resolved[0]["key"]
    approvals = run_ctoops(["--json", "approvals", "list", "--all"], root=root).json()["approvals"]
    assert [(a["status"], a["decided_by"]) for a in approvals] == [("denied", "ctoops")]
    assert not (root / "restarts.txt").exists()
