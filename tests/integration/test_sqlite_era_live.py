"""The SQLite era against databases the real openclaw@2026.9.6 gateway created
(R2-R4, R17, R18, R20).

- The table definitions ctoops's test fixtures build from (tests/sessions/
  openclaw_schemas.py) are the ones the real gateway makes.
- retry-storm reads the live gateway's own log and state through its cursors.
- The gateway really does work (a failing command cron job run, an agent turn
  that fails for want of model credentials: that creates the agent database, a
  failed session and a failed task), is stopped, and rows are added next to its
  own through tests/integration/sqlite_rows.py (copies of its rows, within its
  constraints). `check sessions` then moves the running tasks on dead sessions
  to review, and `retry-storm` freezes chains on the storm of error receipts.
"""

from __future__ import annotations

import json
import re
import sqlite3
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Ran, run_ctoops, write_config
from tests.integration import sqlite_rows as rows
from tests.integration.conftest import SharedGateway
from tests.integration.openclaw_gateway import RunningGateway, stop_gateway
from tests.sessions import openclaw_schemas
from tests.sessions.dump_schemas import TABLES

pytestmark = pytest.mark.integration

FAILING = ["sh", "-c", "echo upstream HTTP 502 >&2; exit 3"]


def _norm(sql: str) -> str:
    sql = re.sub(r"\s+", " ", sql).strip().rstrip(";")
    return sql.replace(" IF NOT EXISTS", "")


def _ddl(db: Path) -> tuple[int, dict[str, str]]:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        version = con.execute("PRAGMA user_version").fetchone()[0]
        return version, {name: _norm(sql) for name, sql in con.execute(
            "SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL")}
    finally:
        con.close()


def _ours(ddl: str) -> dict[str, str]:
    out = {}
    for stmt in ddl.split(";"):
        m = re.match(r"\s*CREATE (?:UNIQUE )?(?:TABLE|INDEX)(?: IF NOT EXISTS)? (\w+)", stmt)
        if m:
            out[m.group(1)] = _norm(stmt)
    return out


def workspace(root: Path, gw: RunningGateway) -> Path:
    write_config(root, {
        "gateway": {"state_dir": str(gw.state_dir), "log_dir": str(gw.log_dir),
                    "health_url": gw.url, "process_name": "openclaw-gateway",
                    "restart_command": ["true"]},
        "retry_storm": {"sources": ["gateway_log", "cron"]},
        "notify": {"order": ["mc_output"]}})
    return root


def ctoops(root: Path, *args: str, now: float | None = None) -> Ran:
    env = {"TZ": "UTC"} | ({"CTOOPS_FAKE_NOW": repr(now)} if now is not None else {})
    ran = run_ctoops(["--json", *args], root=root, env=env)
    assert ran.stdout, ran.stderr
    return ran


def test_r2_fixture_ddl_matches_the_real_2026_9_6_state_database(
        shared_gateway: SharedGateway) -> None:
    version, real = _ddl(rows.state_db(shared_gateway.gw.state_dir))
    assert version == openclaw_schemas.STATE_DB_2026_9_6_USER_VERSION
    ours = _ours(openclaw_schemas.STATE_DB_2026_9_6)
    assert set(ours) >= set(TABLES) - {"cron_run_logs"}  # cron_run_logs: 2026.7.1 only
    for table in sorted(ours):
        assert ours[table] == real.get(table), table


def test_r4_retry_storm_reads_the_live_gateways_log_and_sqlite_state_from_cursors(
        shared_gateway: SharedGateway, tmp_path: Path) -> None:
    root = workspace(tmp_path / "ws", shared_gateway.gw)
    now = time.time()
    first = ctoops(root, "retry-storm", now=now)
    assert first.returncode in (0, 1), first.stderr
    sources = {s["name"]: s for s in first.json()["sources"]}
    log = sources["gateway_log"]
    assert log["status"] == "read" and log["bytes_read"] > 0 and log["lines"] > 5, log
    assert log["bad_lines"] == 0
    cron = sources["cron"]
    assert cron["status"] == "read" and cron["era"] == "sqlite"
    assert cron["runs_table"] == "cron_run_receipts" and cron["jobs"] >= 1
    second = ctoops(root, "retry-storm", now=now + 1).json()
    again = {s["name"]: s for s in second["sources"]}["gateway_log"]
    assert again["bytes_read"] < log["bytes_read"]  # only what the gateway wrote since


def _wait_for(what: str, probe: Any, timeout_s: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        got = probe()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} after {timeout_s:g} s")
        time.sleep(0.5)


def _gateway_does_work(gw: RunningGateway) -> str:
    """A command cron job that fails once, and an agent turn that fails: real rows."""
    added = gw.cli("cron", "add", "--every", "1h", "--name", "storm-probe",
                   "--command-argv", json.dumps(FAILING), "--json")
    assert added.returncode == 0, added.stdout[-2000:] + added.stderr[-2000:]
    job_id = json.loads(added.stdout)["id"]
    ran = gw.cli("cron", "run", job_id, "--wait", "--poll-interval", "0.5s", "--json")
    assert ran.returncode != 0 and "code 3" in ran.stdout, ran.stdout[-2000:]
    turn = gw.cli("agent", "--agent", "main", "--message", "hello", "--json", "--timeout", "60")
    assert turn.returncode == 1, turn.stdout[-2000:] + turn.stderr[-2000:]
    return str(job_id)


def test_r2_r3_r4_r17_r20_rows_in_the_real_databases_are_judged_as_they_say(
        openclaw_gateway: RunningGateway, tmp_path: Path) -> None:
    gw = openclaw_gateway
    root = workspace(tmp_path / "ws", gw)
    state_db = rows.state_db(gw.state_dir)
    _wait_for("heartbeat job", lambda: rows.read_rows(state_db, "cron_jobs",
                                                      "payload_kind = 'heartbeat'"))

    # live: the lease, the boot and the heartbeat job, as the gateway keeps them (R3)
    live = ctoops(root, "check", "sessions").json()
    assert not [f for f in live["findings"] if f["check"].startswith("source:")], live["findings"]
    lease = live["gateway"]["owner_lease"]
    assert (lease["pid"], lease["pid_status"]) == (gw.pid, "live")
    assert live["gateway"]["boots"][0]["pid"] == gw.pid
    assert [(h["agent_id"], h["interval_s"]) for h in live["heartbeats"]] == [("main", 1800)]

    job_id = _gateway_does_work(gw)
    agent_db = rows.agent_db(gw.state_dir)
    version, real = _ddl(agent_db)  # the agent database exists once an agent has run
    assert version == openclaw_schemas.AGENT_DB_2026_9_6_USER_VERSION
    for name, sql in _ours(openclaw_schemas.AGENT_DB_2026_9_6).items():
        assert real[name] == sql, name
    stop_gateway(gw)  # it holds its databases: write only once it is gone

    [boot] = rows.read_rows(state_db, "gateway_boot_lifecycle")
    assert boot["pid"] == gw.pid and boot["completed_at_ms"] is not None
    [main] = rows.read_rows(agent_db, "session_nodes", "session_key = 'agent:main:main'")
    assert main["status"] == "failed"  # the failed turn, as the gateway recorded it
    [failed_task] = rows.read_rows(state_db, "task_runs", "child_session_key = ?",
                                   ("agent:main:main",))
    [receipt] = rows.read_rows(state_db, "cron_run_receipts", "job_id = ?", (job_id,))
    assert receipt["status"] == "error" and receipt["owner_pid"] == gw.pid

    # rows next to the gateway's own: two tasks still "running" on dead sessions
    stalled = f"agent:main:subagent:{uuid.uuid4()}"
    during_boot = (boot["started_at_ms"] + boot["completed_at_ms"]) // 2
    with rows.writing(agent_db) as con:
        rows.add_session(con, main, stalled, "running", during_boot, spawned_by="agent:main:main")
    with rows.writing(state_db) as con:
        rows.add_task(con, failed_task, "it-ledger-task", "running", "agent:main:main",
                      main["updated_at"], owner_pid=gw.pid)
        now_ms = int(time.time() * 1000)
        rows.add_error_receipts(con, receipt, [now_ms - 9_000 * i for i in range(1, 10)])
    (root / "memory").mkdir(parents=True, exist_ok=True)
    (root / "memory" / "mc-board.json").write_text(json.dumps({"version": 1, "tasks": [
        {"id": "IT-1", "title": "board task", "status": "in_progress", "session_key": stalled}]}))

    # retry-storm (now; the check below moves this workspace's clock on): ten error
    # receipts of one job within ten minutes -> chains frozen (R4, R20)
    ran = ctoops(root, "retry-storm")
    storm = ran.json()
    assert ran.returncode == 2, json.dumps(storm, indent=1)[:4000]
    cron = {s["name"]: s for s in storm["sources"]}["cron"]
    assert cron["era"] == "sqlite" and cron["events"] >= 10, cron
    [act] = [a for a in storm["actions"] if a["scope"] == "global"]
    assert act["outcome"] == "done"
    assert "10 x 'cron: command exited with code <n>'" in act["reason"]
    assert run_ctoops(["gate", "chain"], root=root).returncode == 1

    # check sessions: the store says failed; the stalled one's boot pid is dead (R17, R18)
    later = time.time() + 1_200  # past sessions.session_stall_s (900 s)
    ran = ctoops(root, "check", "sessions", now=later)
    out = ran.json()
    assert ran.returncode == 1, out["findings"]
    stopped = out["gateway"]["boots"][0]
    assert (stopped["pid"], stopped["pid_status"]) == (gw.pid, "dead")
    assert stopped["completed_at_ms"] == boot["completed_at_ms"]
    lost = {x["task_id"]: x for x in out["tasks"]["lost"]}
    assert set(lost) == {"IT-1", "it-ledger-task"}, out["tasks"]
    assert (lost["it-ledger-task"]["session_key"], lost["it-ledger-task"]["rule"]) == (
        "agent:main:main", "store_status")
    assert (lost["IT-1"]["session_key"], lost["IT-1"]["rule"]) == (stalled, "owner_pid_dead")
    assert str(gw.pid) in lost["IT-1"]["explanation"]
    board = {t["id"]: t for t in json.loads((root / "memory" / "mc-board.json").read_text())[
        "tasks"]}
    assert board["IT-1"]["status"] == "review"
    assert board["it-ledger-task"]["status"] == "review"
    assert board["it-ledger-task"]["ctoops"]["lost_session_key"] == "agent:main:main"
    assert run_ctoops(["audit", "verify"], root=root).returncode == 0
