"""Against a real OpenClaw 2026.9.6 gateway (skipped, with the reason printed, when
CTOOPS_OPENCLAW_DIR does not point at an installed gateway cache)."""

from __future__ import annotations

import re
import sqlite3
import time
from pathlib import Path

import pytest

from tests.sessions import openclaw_schemas, realgw
from tests.sessions.dump_schemas import TABLES

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture
def gateway(tmp_path):
    base = realgw.openclaw_dir()
    if base is None:
        print("skipping: CTOOPS_OPENCLAW_DIR is not set to a gateway cache (node24/, gw96/)")
        pytest.skip("CTOOPS_OPENCLAW_DIR not set: no real gateway to test against")
    gw = realgw.start(base, "2026.9.6", tmp_path / "home")
    try:
        yield gw
    finally:
        gw.stop()


def _wait_for_heartbeat_job(db: Path, timeout_s: float = 60.0) -> None:
    """The gateway declares its heartbeat job a few seconds after it says ready."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            found = con.execute("SELECT count(*) FROM cron_jobs WHERE payload_kind = "
                                "'heartbeat'").fetchone()[0]
        finally:
            con.close()
        if found:
            return
        time.sleep(0.5)
    raise AssertionError(f"no heartbeat job in {db} after {timeout_s:g} s")


def _norm(sql: str) -> str:
    return re.sub(r"\s+", " ", sql).strip().rstrip(";")


def test_r2_fixture_ddl_matches_the_real_2026_9_6_state_database(gateway):
    con = sqlite3.connect(f"file:{gateway.state_dir / 'state' / 'openclaw.sqlite'}?mode=ro",
                          uri=True)
    try:
        version = con.execute("PRAGMA user_version").fetchone()[0]
        real = {name: _norm(sql) for name, sql in con.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'table'")}
    finally:
        con.close()
    assert version == openclaw_schemas.STATE_DB_2026_9_6_USER_VERSION
    ours = {m.group(1): _norm(m.group(0)) for m in re.finditer(
        r"CREATE TABLE (\w+) \(.*?\) STRICT;", openclaw_schemas.STATE_DB_2026_9_6, re.S)}
    for table in TABLES:
        assert ours[table] == real[table], table


def test_r3_check_sessions_reads_a_live_gateway_lease_boots_and_heartbeat_job(gateway, sws):
    from tests.conftest import write_config

    write_config(sws.root, {"gateway": {"state_dir": str(gateway.state_dir)},
                            "notify": {"order": ["mc_output"]}})
    _wait_for_heartbeat_job(gateway.state_dir / "state" / "openclaw.sqlite")
    ran = sws.run("--json", "check", "sessions", now=time.time())
    out = ran.json()
    assert ran.returncode in (0, 1), ran.stderr
    assert not [f for f in out["findings"] if f["check"].startswith("source:")], out["findings"]
    lease = out["gateway"]["owner_lease"]
    assert lease["pid"] == gateway.proc.pid and lease["pid_status"] == "live"
    assert out["gateway"]["boots"][0]["pid"] == gateway.proc.pid
    assert [h["agent_id"] for h in out["heartbeats"]] == ["dev"]
    assert out["heartbeats"][0]["interval_s"] == 1800
    gateway.stop()
    after = sws.run("--json", "check", "sessions").json()
    boot = after["gateway"]["boots"][0]
    assert boot["pid"] == gateway.proc.pid and boot["completed_at_ms"] is not None
    assert boot["pid_status"] == "dead"
