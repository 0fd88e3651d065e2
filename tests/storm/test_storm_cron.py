"""Cron job errors in every storage shape (R4): SQLite-era receipts with status
error (2026.9 tables), 2026.7 columns and run logs, and the file era's jobs.json.
The databases are built from the real gateways' table definitions (fixtures)."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

from ctoops.probes.openclaw.cron import read_cron
from tests.sessions import openclaw_schemas
from tests.storm.conftest import T0

MS = int(T0 * 1000)


def make_db(state_dir: Path, schema: str) -> sqlite3.Connection:
    db = state_dir / "state" / "openclaw.sqlite"
    db.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA journal_mode = WAL")  # as the gateway keeps it
    conn.executescript(getattr(openclaw_schemas, schema))
    return conn


def add_job_96(conn: sqlite3.Connection, job_id: str, state: dict) -> None:
    conn.execute(
        "INSERT INTO cron_jobs (store_key, job_id, name, enabled, payload_kind, job_json, "
        "state_json, updated_at) VALUES (?, ?, ?, 1, 'agentTurn', '{}', ?, ?)",
        ("/home/u/.openclaw/cron/jobs.json", job_id, f"job {job_id}", json.dumps(state), MS))


def add_receipt(conn: sqlite3.Connection, rid: str, job_id: str, status: str, finished: int | None,
                error: str | None = None) -> None:
    conn.execute(
        "INSERT INTO cron_run_receipts (receipt_id, store_key, job_id, config_revision, agent_id, "
        "status, owner_pid, started_at_ms, finished_at_ms, error_text) VALUES "
        "(?, 'k', ?, 'rev', 'main', ?, 4242, ?, ?, ?)",
        (rid, job_id, status, (finished or MS) - 500, finished, error))


def test_r4_sqlite_era_error_receipts_are_read_once_each_after_a_cursor(tmp_path) -> None:
    conn = make_db(tmp_path, "STATE_DB_2026_9_6")
    add_job_96(conn, "a", {"consecutiveErrors": 6, "lastError": "HTTP 502 from provider",
                           "lastRunStatus": "error", "lastRunAtMs": MS})
    add_job_96(conn, "b", {"lastRunStatus": "ok"})
    add_receipt(conn, "r1", "a", "error", MS - 2000, "HTTP 502 req_11111111")
    add_receipt(conn, "r2", "a", "ok", MS - 1500)
    add_receipt(conn, "r3", "a", "error", MS - 1000, "HTTP 502 req_22222222")
    add_receipt(conn, "r4", "b", "running", None)
    add_receipt(conn, "r0", "a", "error", MS - 3_600_000, "too old for the first run")
    conn.commit()
    got = read_cron(tmp_path, None, MS - 600_000)
    assert got.era == "sqlite" and got.source.status == "read"
    assert [e.message for e in got.source.events] == ["HTTP 502 req_11111111",
                                                      "HTTP 502 req_22222222"]
    assert got.source.events[0].job == "a" and got.source.events[0].ts == (MS - 2000) / 1000
    jobs = {j.job_id: j for j in got.jobs}
    assert jobs["a"].consecutive_errors == 6 and jobs["a"].last_error == "HTTP 502 from provider"
    assert jobs["b"].consecutive_errors == 0
    again = read_cron(tmp_path, got.source.cursor, MS - 600_000)
    assert again.source.events == ()
    add_receipt(conn, "r5", "a", "error", MS - 1000, "same millisecond, later id")
    conn.commit()
    assert [e.message for e in read_cron(tmp_path, got.source.cursor, 0).source.events] == [
        "same millisecond, later id"]
    conn.close()


def test_r4_the_gateway_database_is_opened_read_only_and_left_unchanged(tmp_path) -> None:
    conn = make_db(tmp_path, "STATE_DB_2026_9_6")
    add_job_96(conn, "a", {"consecutiveErrors": 1})
    conn.commit()
    conn.close()
    db = tmp_path / "state" / "openclaw.sqlite"
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    read_cron(tmp_path, None, 0)
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before
    wal = db.with_name("openclaw.sqlite-wal")
    assert not wal.exists() or wal.stat().st_size == 0  # nothing was written


def test_r4_2026_7_columns_and_run_logs_are_read(tmp_path) -> None:
    conn = make_db(tmp_path, "STATE_DB_2026_7_1")
    conn.execute(
        "INSERT INTO cron_jobs (store_key, job_id, name, enabled, created_at_ms, schedule_kind, "
        "session_target, wake_mode, payload_kind, consecutive_errors, last_error, "
        "last_run_status, job_json, updated_at) VALUES ('k', 'j7', 'nightly', 1, ?, 'every', "
        "'isolated', 'now', 'agentTurn', 5, 'ETIMEDOUT', 'error', '{}', ?)", (MS, MS))
    conn.execute("INSERT INTO cron_run_logs (store_key, job_id, seq, ts, status, error, "
                 "entry_json, created_at) VALUES ('k', 'j7', 1, ?, 'error', 'ETIMEDOUT', '{}', ?)",
                 (MS - 100, MS))
    conn.execute("INSERT INTO cron_run_logs (store_key, job_id, seq, ts, status, error, "
                 "entry_json, created_at) VALUES ('k', 'j7', 2, ?, 'ok', NULL, '{}', ?)",
                 (MS - 50, MS))
    conn.commit()
    conn.close()
    got = read_cron(tmp_path, None, MS - 600_000)
    assert got.jobs[0].consecutive_errors == 5 and got.jobs[0].last_error == "ETIMEDOUT"
    assert [e.message for e in got.source.events] == ["ETIMEDOUT"]
    assert got.source.detail["runs_table"] == "cron_run_logs"
    assert read_cron(tmp_path, got.source.cursor, 0).source.events == ()


def test_r4_file_era_jobs_json_consecutive_errors_are_read(tmp_path) -> None:
    (tmp_path / "cron").mkdir()
    (tmp_path / "cron" / "jobs.json").write_text(json.dumps({"version": 1, "jobs": [
        {"id": "legacy-1", "name": "digest", "enabled": True,
         "state": {"lastRunAtMs": MS, "lastStatus": "error", "lastError": "quota exceeded",
                   "consecutiveErrors": 5}},
        {"id": "legacy-2", "state": {"lastStatus": "ok", "consecutiveErrors": 0}},
        "not a job"]}))
    got = read_cron(tmp_path, None, 0)
    assert got.era == "file" and got.source.bad_lines == 1
    jobs = {j.job_id: j for j in got.jobs}
    assert jobs["legacy-1"].consecutive_errors == 5 and jobs["legacy-1"].last_status == "error"


def test_r4_corrupt_jobs_json_is_a_note_not_a_crash(tmp_path) -> None:
    (tmp_path / "cron").mkdir()
    (tmp_path / "cron" / "jobs.json").write_bytes(b"{\"jobs\": [\xff")
    got = read_cron(tmp_path, {"after_ms": 5}, 0)
    assert got.source.status == "failed" and got.jobs is None
    assert got.source.cursor == {"after_ms": 5} and "not valid JSON" in got.source.notes[0]


def test_r4_no_cron_store_is_a_note(tmp_path) -> None:
    got = read_cron(tmp_path, None, 0)
    assert got.source.status == "absent" and got.jobs is None and got.era == "none"


def test_r4_a_database_that_is_not_sqlite_is_a_note(tmp_path) -> None:
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "openclaw.sqlite").write_bytes(b"garbage" * 100)
    got = read_cron(tmp_path, None, 0)
    assert got.source.status == "failed" and "read-only" in got.source.notes[0]
