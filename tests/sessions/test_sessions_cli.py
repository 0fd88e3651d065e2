"""`ctoops check sessions` as a real child process against one workspace, run after run."""

from __future__ import annotations

import json

import pytest

from tests.sessions import openclaw_gen as gen
from tests.sessions.conftest import NOW_MS, NOW_S

DEAD, LIVE = gen.key_subagent("dead-1"), gen.key_subagent("live-1")


def sqlite_era(sws, *rows, tasks=(), beat_ms: int | None = NOW_MS - 60_000) -> None:
    gen.make_agent_db(sws.state_dir, [
        gen.session_row(gen.key_main(), "running", NOW_MS - 1000),
        gen.session_row(DEAD, "failed", NOW_MS - 50_000, session_id="sid-dead"),
        gen.session_row(LIVE, "running", NOW_MS - 2000, session_id="sid-live"), *rows])
    gen.make_state_db(sws.state_dir, tasks=list(tasks),
                      heartbeat_jobs=[gen.heartbeat_job("main", beat_ms, created_ms=NOW_MS)])


def test_r17_r18_orphaned_task_moves_to_review_exactly_once_across_runs(sws):
    sqlite_era(sws)
    sws.write_board([{"id": "T1", "title": "ship", "status": "in_progress", "session_key": DEAD,
                      "assignee": "luna"},
                     {"id": "T2", "status": "in_progress", "session_key": LIVE}])
    ran, out = sws.check()
    assert ran.returncode == 1, ran.stderr
    assert out["status"] == "WARNING"
    [lost] = out["tasks"]["lost"]
    assert (lost["task_id"], lost["session_key"], lost["rule"], lost["new"]) == (
        "T1", DEAD, "store_status", True)
    assert lost["retry_policy"]["verdict"] == "retry_after"
    t1 = sws.task("T1")
    assert t1["status"] == "review" and t1["assignee"] == "luna"
    assert t1["ctoops"]["lost_session_key"] == DEAD
    assert t1["ctoops"]["retry_policy"]["retry_at_epoch"] == NOW_S + 60
    assert sws.task("T2")["status"] == "in_progress"
    # R18: the lost session key and the task id in the trail and the audit log
    [trail] = [d for d in sws.state()["decisions"] if d["command"] == "check sessions"]
    assert trail["details"]["task_id"] == "T1" and trail["details"]["session_key"] == DEAD
    [audited] = sws.audit("task_to_review")
    assert audited["outcome"] == "done" and audited["details"]["task_id"] == "T1"
    assert DEAD in audited["reason"]
    assert len(sws.mc_lines("task_review")) == 1 and len(sws.mc_lines("task_lost")) == 1
    for later in (NOW_S + 10, NOW_S + 20):
        ran, out = sws.check(now=later)
        assert ran.returncode == 0, out["findings"]
        assert [x for x in out["tasks"]["lost"] if x["new"]] == []
    assert len(sws.audit("task_to_review")) == 1
    assert len(sws.mc_lines("task_review")) == 1 and len(sws.mc_lines("task_lost")) == 1
    assert len(sws.memory()["tasks"]["T1"]["losses"]) == 1


def test_r19_policy_follows_the_task_from_backoff_to_manual_across_runs(sws):
    """Loss, back-off passes, the orchestrator retries on a new session that dies,
    ... until the cut-off: then a review event and an urgent alert, once."""
    sqlite_era(sws)
    sws.write_board([{"id": "T1", "status": "in_progress", "session_key": DEAD}])
    now = NOW_S
    sws.check(now=now)
    _, out = sws.check(now=now + 61)
    assert sws.task("T1")["ctoops"]["retry_policy"]["verdict"] == "retry_now"
    assert out["retry_policies"]["T1"]["verdict"] == "retry_now"
    waits = [60.0]
    for attempt in range(2, 5):
        key = gen.key_subagent(f"retry-{attempt}")
        # the orchestrator retries: a new live session, then it dies
        _add_session(sws, key, "running", int((now + 62) * 1000))
        board = sws.read_board()
        board["tasks"][0].update(status="in_progress", session_key=key)
        sws.write_board(board["tasks"])
        sws.check(now=now + 62)
        _set_status(sws, key, "failed", int((now + 70) * 1000))
        _, out = sws.check(now=now + 70)
        [lost] = out["tasks"]["lost"]
        assert lost["new"] and lost["retry_policy"]["attempts"] == attempt
        waits.append(lost["retry_policy"]["backoff_s"])
        now += 70
    assert waits[:3] == [60.0, 120.0, 240.0]
    assert lost["retry_policy"]["verdict"] == "manual"
    [review] = [r for r in sws.state()["review_events"] if r["kind"] == "task_manual_retry"]
    assert review["status"] == "open" and "T1" in review["summary"]
    assert len(sws.mc_lines("task_manual")) == 1
    assert sws.task("T1")["ctoops"]["retry_policy"]["verdict"] == "manual"
    sws.check(now=now + 500)
    assert len(sws.mc_lines("task_manual")) == 1
    assert len([r for r in sws.state()["review_events"] if r["kind"] == "task_manual_retry"]) == 1


def _db(sws):
    import sqlite3

    return sqlite3.connect(sws.state_dir / "agents" / "main" / "agent" / "openclaw-agent.sqlite")


def _add_session(sws, key: str, status: str, updated: int) -> None:
    con = _db(sws)
    with con:
        row = gen.session_row(key, status, updated)
        con.execute(f"INSERT INTO session_nodes ({', '.join(row)}) VALUES "
                    f"({', '.join('?' * len(row))})", list(row.values()))
    con.close()


def _set_status(sws, key: str, status: str, updated: int) -> None:
    con = _db(sws)
    with con:
        con.execute("UPDATE session_nodes SET status = ?, updated_at = ? WHERE session_key = ?",
                    (status, updated, key))
    con.close()


def test_r17_missing_session_and_ledger_task_in_a_file_era_install(sws):
    gen.write_sessions_json(sws.state_dir, [
        (gen.key_main(), gen.entry("m", "running", NOW_MS - 1000, heartbeat_ms=NOW_MS - 5000,
                                   pad_bytes=30_000)),
        (gen.key_cron_run("job1", "r1"), gen.entry("r1", "done", NOW_MS - 90_000))])
    gen.make_state_db(sws.state_dir, release="2026.7.1", tasks=[
        gen.task_row("L9", "running", gen.key_subagent("vanished"), now_ms=NOW_MS,
                     error="worker lost", label="summarise inbox")])
    sws.write_board([{"id": "T1", "status": "in_progress",
                      "session_key": gen.key_subagent("also-gone")}])
    ran, out = sws.check()
    assert ran.returncode == 1
    assert {a["agent_id"]: a["era"] for a in out["agents"]} == {"main": "file"}
    rules = {x["task_id"]: x["rule"] for x in out["tasks"]["lost"]}
    assert rules == {"T1": "missing", "L9": "missing"}
    added = sws.task("L9")
    assert added["status"] == "review" and added["openclaw_task_id"] == "L9"
    assert added["title"] == "summarise inbox"
    assert added["ctoops"]["retry_policy"]["last_failures"][0]["error"] == "worker lost"
    ran, out = sws.check(now=NOW_S + 5)
    assert ran.returncode == 0 and not [x for x in out["tasks"]["lost"] if x["new"]]


@pytest.mark.parametrize("raw", [
    b'{"agent:main:main": {"sessionId": "m", "status": "running", "updatedAt": 17',  # truncated
    b'{"agent:main:main": {"sessionId": "\xff\xfe", "status": "running"}}',  # not UTF-8
    b'[{"sessionId": "m"}]',  # wrong top-level type
])
def test_r2_malformed_store_is_a_critical_finding_no_crash_and_nothing_written(sws, digest, raw):
    path = sws.state_dir / "agents" / "main" / "sessions" / "sessions.json"
    path.parent.mkdir(parents=True)
    path.write_bytes(raw)
    sws.write_board([{"id": "T1", "status": "in_progress", "session_key": gen.key_subagent("x")}])
    before = digest(sws.state_dir)
    ran, out = sws.check()
    assert ran.returncode == 2 and "Traceback" not in ran.stderr
    [bad] = [f for f in out["findings"] if f["check"] == "source:malformed"]
    assert bad["risk"] == "high" and "sessions.json" in bad["message"]
    assert out["tasks"]["lost"] == [] and sws.task("T1")["status"] == "in_progress"
    assert digest(sws.state_dir) == before


def test_r2_wrong_types_inside_a_store_are_tolerated_and_counted(sws):
    path = sws.state_dir / "agents" / "main" / "sessions" / "sessions.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({gen.key_main(): {"status": ["x"], "updatedAt": "soon"},
                                gen.key_subagent("n"): 42}))
    ran, out = sws.check()
    assert ran.returncode == 0 and "Traceback" not in ran.stderr
    assert any(f["check"] == "source:malformed_entries" for f in out["findings"])


def test_r2_unknown_schema_version_degrades_with_a_clear_finding(sws, digest):
    ddl = "CREATE TABLE session_nodes (session_key TEXT PRIMARY KEY, phase TEXT);"
    gen.make_agent_db(sws.state_dir, [], user_version=31, ddl=ddl)
    before = digest(sws.state_dir)
    ran, out = sws.check()
    assert ran.returncode == 1 and "Traceback" not in ran.stderr
    messages = " ".join(f["message"] for f in out["findings"])
    assert "schema version 31" in messages and "not read" in messages
    assert digest(sws.state_dir) == before


def test_r3_stale_heartbeat_is_a_warning_and_an_alert_then_resolved_once(sws):
    sqlite_era(sws, beat_ms=NOW_MS - 4 * 3600 * 1000)
    ran, out = sws.check()
    assert ran.returncode == 1
    [hb] = out["heartbeats"]
    assert hb["stale"] and hb["agent_id"] == "main" and hb["age_s"] == 4 * 3600
    assert sws.mc_lines("heartbeat_stale")[0]["active"] is True
    assert len(sws.audit("heartbeat_stale")) == 1
    sws.check(now=NOW_S + 60)
    assert len(sws.audit("heartbeat_stale")) == 1  # the transition is audited once
    (sws.state_dir / "state" / "openclaw.sqlite").unlink()
    gen.make_state_db(sws.state_dir, heartbeat_jobs=[gen.heartbeat_job("main", NOW_MS + 100_000)])
    ran, out = sws.check(now=NOW_S + 120)
    assert ran.returncode == 0 and not out["heartbeats"][0]["stale"]
    assert [x["active"] for x in sws.mc_lines("heartbeat_stale")][-1] is False
    assert len(sws.audit("heartbeat_fresh")) == 1


def test_r29_dry_run_writes_nothing_anywhere(sws, digest):
    sqlite_era(sws)
    sws.write_board([{"id": "T1", "status": "in_progress", "session_key": DEAD}])
    before_ws, before_gw = digest(sws.root), digest(sws.state_dir)
    ran, out = sws.check(dry_run=True)
    assert ran.returncode == 1 and out["dry_run"] is True
    assert out["tasks"]["lost"][0]["board"]["outcome"] == "dry_run"
    assert digest(sws.root) == before_ws and digest(sws.state_dir) == before_gw


def test_r17_board_that_does_not_parse_is_a_finding_and_left_as_it_was(sws):
    sqlite_era(sws, tasks=[gen.task_row("L1", "running", DEAD, now_ms=NOW_MS)])
    sws.board.parent.mkdir(parents=True, exist_ok=True)
    sws.board.write_bytes(b'{"tasks": [ {"id": "T1", ')
    ran, out = sws.check()
    assert ran.returncode == 1
    assert any(f["subsystem"] == "board" and "untouched" in f["message"] for f in out["findings"])
    assert sws.board.read_bytes() == b'{"tasks": [ {"id": "T1", '


def test_r2_no_gateway_state_folder_is_a_low_finding_not_unknown(sws):
    sws.state_dir.rmdir()
    ran, out = sws.check()
    assert ran.returncode == 0 and out["status"] == "OK"
    assert any(f["check"] == "source:missing_state_dir" for f in out["findings"])
