"""The probes zombie-report senses with: systemd, the owner lease, the gateway log,
the process finder. Real files, a real SQLite database with the gateway's schema,
real executables."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import psutil
import pytest

from ctoops.probes import process as process_probe
from ctoops.probes.gateway_log import read_freshness, tail_lines
from ctoops.probes.openclaw.owner_lease import process_start_ticks, read_owner_lease
from ctoops.probes.systemd import parse_show, read_unit
from tests.sessions import openclaw_schemas
from tests.zombie.zombie_support import start_fake_gateway

# The table as OpenClaw 2026.9.6 creates it (the shared dump of a real gateway's DDL).
STATE_LEASES = next(stmt for stmt in openclaw_schemas.STATE_DB_2026_9_6.split(";")
                    if "CREATE TABLE state_leases" in stmt)
SHOW_OUTPUT = """LoadState=loaded
ActiveState=active
SubState=running
MainPID=4242
NRestarts=3
ExecMainStartTimestamp=Mon 2026-11-30 11:42:04 UTC
"""


def fake_systemctl(folder: Path, stdout: str, rc: int = 0) -> str:
    """A real executable that answers like `systemctl show` (systemd itself is the
    one part tests replace, DESIGN.md)."""
    exe = folder / "systemctl"
    exe.write_text(f"#!{sys.executable}\nimport sys\nsys.stdout.write({stdout!r})\n"
                   f"sys.stderr.write('argv=' + ' '.join(sys.argv[1:]))\nsys.exit({rc})\n")
    exe.chmod(0o755)
    return str(exe)


def test_r1_systemctl_show_is_parsed(tmp_path: Path) -> None:
    run_dir = tmp_path / "run-systemd"
    run_dir.mkdir()
    unit = read_unit("openclaw-gateway", "user", run_dir, systemctl=fake_systemctl(tmp_path, SHOW_OUTPUT))
    assert unit.available and unit.known and unit.claims_running and not unit.failed
    assert (unit.main_pid, unit.n_restarts, unit.sub_state) == (4242, 3, "running")
    assert unit.exec_main_start.startswith("Mon 2026-11-30")


def test_r1_no_systemd_is_a_result_not_an_error(tmp_path: Path) -> None:
    unit = read_unit("openclaw-gateway", "system", tmp_path / "absent")
    assert not unit.available and "no systemd" in unit.error and not unit.claims_running


def test_r1_failing_systemctl_is_reported(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    unit = read_unit("gw", "system", run_dir,
                     systemctl=fake_systemctl(tmp_path, "", rc=1))
    assert not unit.available and "exited 1" in unit.error
    missing = read_unit("gw", "system", run_dir, systemctl=str(tmp_path / "nope"))
    assert not missing.available and "cannot run" in missing.error


def test_r1_unit_not_found_and_no_main_pid() -> None:
    props = parse_show("LoadState=not-found\nActiveState=inactive\nMainPID=0\nX=a=b\n")
    assert props["X"] == "a=b"
    from ctoops.probes.systemd import status_from_properties

    unit = status_from_properties("gw", "system", props)
    assert unit.main_pid is None and not unit.known and not unit.claims_running


def make_state_db(state_dir: Path, rows: list[tuple[object, ...]]) -> Path:
    db = state_dir / "state" / "openclaw.sqlite"
    db.parent.mkdir(parents=True)
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA journal_mode=WAL")  # as the gateway runs it
    conn.execute(STATE_LEASES)
    conn.executemany("INSERT INTO state_leases VALUES (?,?,?,?,?,?,?,?)", rows)
    conn.commit()
    conn.close()
    return db


def test_r3_owner_lease_is_read_from_the_real_schema(tmp_path: Path) -> None:
    payload = json.dumps({"owner": {"pid": 8191, "host": "vm", "startedAt": 50274},
                          "port": 19311, "mode": "foreground", "supervisor": None})
    db = make_state_db(tmp_path, [
        ("gateway-owner", "global", "9836269f", 1796039237794, 1796038937794, payload,
         1796038937190, 1796038937794),
        ("startup-migration", "global", "x", 1, 1, None, 1, 1)])
    before = db.read_bytes()
    lease = read_owner_lease(tmp_path)
    assert (lease.status, lease.pid, lease.host, lease.started_at_ticks, lease.port) == \
        ("ok", 8191, "vm", 50274, 19311)
    assert lease.expired(1796039237.794) and not lease.expired(1796039237.0)
    assert lease.heartbeat_age_s(1796038947.794) == pytest.approx(10.0)
    assert db.read_bytes() == before  # read-only


def test_r3_owner_lease_absent_cases(tmp_path: Path) -> None:
    assert read_owner_lease(tmp_path / "none").status == "no_database"
    make_state_db(tmp_path / "empty", [])
    assert read_owner_lease(tmp_path / "empty").status == "no_row"
    db = tmp_path / "other" / "state" / "openclaw.sqlite"
    db.parent.mkdir(parents=True)
    sqlite3.connect(db).execute("CREATE TABLE t (x)").connection.commit()
    assert read_owner_lease(tmp_path / "other").status == "no_table"
    bad = tmp_path / "bad" / "state" / "openclaw.sqlite"
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"this is not a database" * 100)
    result = read_owner_lease(tmp_path / "bad")
    assert result.status == "unreadable" and result.error
    assert not result.expired(0.0)


def test_r3_process_start_ticks_match_proc_stat() -> None:
    ticks = process_start_ticks(os.getpid())
    assert ticks is not None and ticks > 0
    hz = os.sysconf("SC_CLK_TCK")
    boot = psutil.boot_time()
    assert abs(boot + ticks / hz - psutil.Process().create_time()) < 2
    assert process_start_ticks(2 ** 22 + 7) is None


def line(ts: str, msg: str, level: str = "INFO") -> str:
    return json.dumps({"time": ts, "message": msg, "_meta": {"logLevelName": level}}) + "\n"


def test_r3_log_freshness_reads_the_newest_file_from_its_end(tmp_path: Path) -> None:
    old = tmp_path / "openclaw-2026-11-29.log"
    old.write_text(line("2026-11-29T23:59:00.000+00:00", "yesterday"))
    os.utime(old, (1_700_000_000, 1_700_000_000))
    new = tmp_path / "openclaw-2026-11-30.log"
    filler = line("2026-11-30T10:00:00.000+00:00", "x" * 200) * 2000  # ~450 KB
    new.write_text(filler + line("2026-11-30T11:42:34.210+00:00", "shutdown", "WARN")
                   + "not json at all\n")
    (tmp_path / "openclaw-2026-11-30.log.1").write_text(line("2030-01-01T00:00:00Z", "rotated"))
    fresh = read_freshness(tmp_path, tail_bytes=4096)
    assert fresh.path == str(new)
    assert (fresh.last_level, fresh.last_message) == ("WARN", "shutdown")
    assert fresh.last_time == datetime(2026, 11, 30, 11, 42, 34, 210000, UTC).timestamp()
    assert fresh.age_s(fresh.last_time + 30) == pytest.approx(30)
    assert tail_lines(new, 2, 4096) == [line("2026-11-30T11:42:34.210+00:00", "shutdown",
                                             "WARN").strip(), "not json at all"]


def test_r3_log_freshness_without_logs_says_why(tmp_path: Path) -> None:
    assert "no log folder" in read_freshness(tmp_path / "absent").error
    assert "no openclaw-" in read_freshness(tmp_path).error
    (tmp_path / "openclaw-x.log").write_text("garbage\n")
    fresh = read_freshness(tmp_path)
    assert fresh.last_time is None and fresh.mtime is not None and "no timestamped" in fresh.error


def test_r1_r22_finder_prefers_the_process_on_the_health_port(tmp_path: Path) -> None:
    """An OLDER process with the same name that does not listen must not win
    (zombie-report, check resources, safe-restart and check sessions alike)."""
    name = f"fakegw-{uuid.uuid4().hex[:6]}"
    decoy_exe = tmp_path / name
    decoy_exe.symlink_to(os.path.realpath(sys.executable))
    decoy = subprocess.Popen([str(decoy_exe), "-S", "-c", "import time; time.sleep(60)"])
    time.sleep(0.05)
    (tmp_path / "gw").mkdir()
    gw = start_fake_gateway(tmp_path / "gw", name)
    try:
        assert psutil.Process(decoy.pid).create_time() < psutil.Process(gw.pid).create_time()
        assert process_probe.find_by_name_on_port(name, None) == (decoy.pid, "name")  # name alone
        assert process_probe.find_by_name_on_port(name, gw.port) == (gw.pid, "name+port")
        # what check resources and safe-restart measure, without systemd: the same one
        found = process_probe.find_gateway("no-such-unit", "system", name, gw.port,
                                           run_dir=tmp_path / "no-systemd")
        assert found is not None and (found.pid, found.found_by) == (gw.pid, "name+port")
        gw.stop()  # a stopped process keeps its listening socket
        assert process_probe.find_by_name_on_port(name, gw.port) == (gw.pid, "name+port")
    finally:
        gw.kill()
        decoy.kill()
        decoy.wait()
    assert process_probe.find_by_name_on_port("no-such-proc-xyz", 1) is None
