"""The SQLite-era reader against databases built with the real gateway's DDL."""

from __future__ import annotations

import os
import socket
import sqlite3

import pytest

from ctoops.probes.openclaw import snapshot, sqlitestore
from ctoops.probes.openclaw.liveness import start_ticks
from tests.sessions import openclaw_gen as gen
from tests.sessions.conftest import NOW_MS


def test_r2_agent_db_2026_9_6_counts_all_and_keeps_running_named_and_dead_sample(tmp_path):
    rows = [gen.session_row(gen.key_main(), "running", NOW_MS, heartbeat_ms=NOW_MS - 7)]
    rows += [gen.session_row(gen.key_subagent(f"f{i}"), "failed", NOW_MS - i) for i in range(40)]
    rows += [gen.session_row(gen.key_cron_job(f"j{i}"), "done", NOW_MS) for i in range(100)]
    rows += [gen.session_row(gen.key_group("discord", "1"), None, NOW_MS)]
    path = gen.make_agent_db(tmp_path, rows)
    view = sqlitestore.read_agent_db(path, "main", frozenset({gen.key_cron_job("j3")}),
                                     dead_sample=3)
    assert view.readable and view.era == "sqlite" and view.schema_version == 23
    assert view.problems == ()
    assert view.by_status == {"running": 1, "failed": 40, "done": 100, "unknown": 1}
    assert view.total == 142
    keys = {r.key for r in view.records}
    assert {gen.key_main(), gen.key_cron_job("j3")} <= keys
    assert len([r for r in view.records if r.status == "failed"]) == 3
    assert view.main_heartbeat_ms == NOW_MS - 7


@pytest.mark.parametrize("release", ["2026.9.6", "2026.7.1"])
def test_r3_state_db_of_both_releases_gives_tasks_heartbeat_boots_and_lease(tmp_path, release):
    me = os.getpid()
    lease = gen.owner_lease(me, start_ticks(me), socket.gethostname(), NOW_MS)
    gen.make_state_db(
        tmp_path, release=release,
        tasks=[gen.task_row("t1", "running", gen.key_subagent("a"), now_ms=NOW_MS),
               gen.task_row("t2", "succeeded", gen.key_subagent("b"), now_ms=NOW_MS),
               gen.task_row("t3", "failed", gen.key_subagent("c"), now_ms=NOW_MS, error="x")],
        heartbeat_jobs=[gen.heartbeat_job("main", NOW_MS - 1000, every_ms=600_000)],
        boots=[gen.boot_row(111, NOW_MS - 9000, NOW_MS - 8000, "clean_stop"),
               gen.boot_row(me, NOW_MS - 5000)], lease=lease)
    view = snapshot.read_ledger(tmp_path, frozenset({"t3"}))
    assert view.problems == ()
    assert {t.task_id for t in view.tasks} == {"t1", "t3"}  # running, plus the named one
    assert [(h.agent_id, h.last_ms, h.interval_ms) for h in view.heartbeats] == [
        ("main", NOW_MS - 1000, 600_000)]
    assert [b.pid for b in view.boots] == [me, 111]
    assert view.lease is not None and view.lease.pid == me
    assert snapshot.owner_pids(view)[me] == "live"


def test_r3_cron_receipts_2026_9_6_running_with_owner_pid(tmp_path):
    gen.make_state_db(tmp_path, receipts=[{
        "receipt_id": "r1", "store_key": "k", "job_id": "j1", "config_revision": "c",
        "agent_id": "main", "request_run_id": "run1", "status": "running", "owner_pid": 4_000_000,
        "started_at_ms": NOW_MS - 10}])
    view = snapshot.read_ledger(tmp_path)
    assert [(r.job_id, r.status, r.owner_pid) for r in view.cron_runs] == [
        ("j1", "running", 4_000_000)]
    assert snapshot.owner_pids(view)[4_000_000] == "dead"


def test_r2_unknown_schema_version_with_the_needed_columns_is_read_and_said(tmp_path):
    path = gen.make_agent_db(tmp_path, [gen.session_row(gen.key_main(), "running", NOW_MS)],
                             user_version=99)
    view = sqlitestore.read_agent_db(path, "main")
    assert view.readable and view.total == 1
    assert [p.kind for p in view.problems] == ["unknown_schema"]
    assert "99" in view.problems[0].message and view.problems[0].risk == "low"


def test_r2_unknown_schema_without_the_needed_columns_degrades_with_a_finding(tmp_path):
    ddl = "CREATE TABLE session_nodes (session_key TEXT PRIMARY KEY, state TEXT, touched INTEGER);"
    path = gen.make_agent_db(tmp_path, [], user_version=40, ddl=ddl)
    view = sqlitestore.read_agent_db(path, "main")
    assert not view.readable and view.records == ()
    worst = next(p for p in view.problems if p.risk == "medium")
    assert "status" in worst.message and "updated_at" in worst.message and "40" in worst.message


def test_r2_state_db_with_renamed_task_table_columns_skips_only_that_table(tmp_path):
    path = tmp_path / "state" / "openclaw.sqlite"
    path.parent.mkdir(parents=True)
    con = sqlite3.connect(path)
    con.executescript("CREATE TABLE task_runs (id TEXT, state TEXT);"
                      "CREATE TABLE gateway_boot_lifecycle (boot_id TEXT, pid INTEGER, "
                      "started_at_ms INTEGER); INSERT INTO gateway_boot_lifecycle VALUES "
                      "('b', 5, 10); PRAGMA user_version = 77;")
    con.close()
    view = sqlitestore.read_state_db(path)
    assert view.tasks == () and [b.pid for b in view.boots] == [5]
    kinds = sorted((p.kind, p.risk) for p in view.problems)
    assert kinds == [("unknown_schema", "low"), ("unknown_schema", "medium")]


@pytest.mark.parametrize("content", [b"this is not a database at all" * 100, b""])
def test_r2_a_file_that_is_not_a_database_is_a_finding_not_a_crash(tmp_path, content):
    path = tmp_path / "agents" / "main" / "agent" / "openclaw-agent.sqlite"
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    view = sqlitestore.read_agent_db(path, "main")
    assert not view.readable
    assert view.problems and view.problems[0].kind in ("malformed", "unknown_schema")


def test_r2_reading_writes_nothing_to_the_gateway_databases(tmp_path, digest):
    gen.make_agent_db(tmp_path, [gen.session_row(gen.key_main(), "running", NOW_MS)])
    gen.make_state_db(tmp_path, tasks=[gen.task_row("t", "running", gen.key_main(),
                                                    now_ms=NOW_MS)])
    before = digest(tmp_path)
    snap = snapshot.read_snapshot(tmp_path, frozenset({gen.key_subagent("x")}), frozenset({"t"}))
    assert snap.agents[0].readable and snap.ledger.tasks
    assert digest(tmp_path) == before


def test_r2_era_is_detected_per_agent(tmp_path):
    gen.make_agent_db(tmp_path, [gen.session_row(gen.key_main("new"), "running", NOW_MS)],
                      agent="new")
    gen.write_sessions_json(tmp_path, [(gen.key_main("old"), gen.entry("o", "running", NOW_MS))],
                            agent="old")
    gen.write_sessions_json(tmp_path, [(gen.key_main("new"), gen.entry("n", "done", NOW_MS))],
                            agent="new")  # a leftover beside the newer database
    snap = snapshot.read_snapshot(tmp_path)
    eras = {a.agent_id: a.era for a in snap.agents}
    assert eras == {"new": "sqlite", "old": "file"}
    new = next(a for a in snap.agents if a.agent_id == "new")
    assert new.records[0].status == "running" and new.problems[0].kind == "both_eras"
