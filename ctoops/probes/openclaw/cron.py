"""Cron job error state, read-only, in every storage shape the gateway has used.

Facts relied on (checked on real gateways, schemas copied into tests/storm/fixtures):
- file era: `cron/jobs.json` = {version, jobs: [{id, name, enabled, state: {
  lastRunAtMs, lastStatus | lastRunStatus, lastError, consecutiveErrors}}]}.
- 2026.7: `state/openclaw.sqlite` table `cron_jobs` with columns
  `consecutive_errors`, `last_error`, `last_run_status`, `last_run_at_ms` (and a
  `state_json`); finished runs in `cron_run_logs` (`status`, `error`, `ts`, `seq`).
- 2026.8 and later: `cron_jobs.state_json` holds the state object above, and each
  run leaves a row in `cron_run_receipts` (`status` running/ok/error/...,
  `finished_at_ms`, `error_text`).
The database is opened `mode=ro` with a short busy timeout and read in one short
transaction; it is never written. Failed runs are returned after a cursor
(finished time, id) so each is counted once; the job list is read whole (it is
small: one row per job).
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ctoops.probes.errorevent import ABSENT, FAILED, PRESENT, ErrorEvent, SourceRead
from ctoops.probes.openclaw.sqlite_ro import connect_ro

SOURCE = "cron"
MAX_ERROR_ROWS = 1000
MAX_MESSAGE_CHARS = 2000


@dataclass(frozen=True)
class CronJobState:
    job_id: str
    name: str
    enabled: bool
    consecutive_errors: int
    last_status: str | None
    last_error: str | None
    last_run_ms: int | None


@dataclass(frozen=True)
class CronRead:
    """The cron source's reading: the SourceRead (failed runs as error events) plus
    every job's state (None when no cron store could be read)."""

    source: SourceRead
    jobs: tuple[CronJobState, ...] | None
    era: str  # sqlite | file | none


def read_cron(state_dir: Path, cursor_data: object, since_ms: int,
              max_rows: int = MAX_ERROR_ROWS) -> CronRead:
    db = state_dir / "state" / "openclaw.sqlite"
    legacy = state_dir / "cron" / "jobs.json"
    if db.is_file():
        try:
            return _read_sqlite(db, cursor_data, since_ms, max_rows)
        except sqlite3.Error as exc:
            return CronRead(SourceRead(SOURCE, FAILED, cursor=_dict(cursor_data), notes=(
                f"cannot read {db} (read-only): {exc}",)), None, "sqlite")
        except _NoCronTables:
            pass  # a database from before cron moved into it: the file era applies
    if legacy.is_file():
        return _read_legacy(legacy, cursor_data)
    return CronRead(SourceRead(SOURCE, ABSENT, cursor=_dict(cursor_data), notes=(
        f"no cron store under {state_dir} (neither state/openclaw.sqlite nor "
        "cron/jobs.json)",)), None, "none")


class _NoCronTables(Exception):
    pass


def _dict(value: object) -> dict[str, Any] | None:
    return value if isinstance(value, dict) else None


def _columns(conn: sqlite3.Connection, table: str) -> set[str]:
    return {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}


def _read_sqlite(db: Path, cursor_data: object, since_ms: int, max_rows: int) -> CronRead:
    conn = connect_ro(db)
    try:
        conn.execute("BEGIN")  # one snapshot for the jobs and the runs
        tables = {row[0] for row in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "cron_jobs" not in tables:
            raise _NoCronTables
        jobs = _sqlite_jobs(conn)
        cursor = _dict(cursor_data) or {}
        if _int(cursor.get("after_ms")):
            after_ms, after_id = int(cursor["after_ms"]), str(cursor.get("after_id", ""))
        else:  # first run: only failures recent enough to matter to the window
            after_ms, after_id = since_ms, ""
        if "cron_run_receipts" in tables:
            rows = conn.execute(
                "SELECT receipt_id, job_id, finished_at_ms, error_text FROM cron_run_receipts "
                "WHERE status = 'error' AND finished_at_ms IS NOT NULL AND "
                "(finished_at_ms > ? OR (finished_at_ms = ? AND receipt_id > ?)) "
                "ORDER BY finished_at_ms, receipt_id LIMIT ?",
                (after_ms, after_ms, after_id, max_rows)).fetchall()
            table = "cron_run_receipts"
        elif "cron_run_logs" in tables:
            rows = conn.execute(
                "SELECT job_id || ':' || printf('%012d', seq) AS rid, job_id, ts, error "
                "FROM cron_run_logs WHERE status = 'error' AND "
                "(ts > ? OR (ts = ? AND job_id || ':' || printf('%012d', seq) > ?)) "
                "ORDER BY ts, rid LIMIT ?", (after_ms, after_ms, after_id, max_rows)).fetchall()
            table = "cron_run_logs"
        else:
            rows, table = [], ""
        conn.execute("COMMIT")
    finally:
        conn.close()
    events = tuple(ErrorEvent(int(ms) / 1000.0, SOURCE, "cron",
                              (text or "cron run failed (no error text)")[:MAX_MESSAGE_CHARS],
                              str(job)) for _, job, ms, text in rows)
    new_cursor = ({"after_ms": int(rows[-1][2]), "after_id": str(rows[-1][0])} if rows
                  else {"after_ms": after_ms, "after_id": after_id})
    notes = (f"{len(rows)} failed runs read (the most per run); the rest next run",) \
        if len(rows) >= max_rows else ()
    return CronRead(SourceRead(SOURCE, PRESENT, events, new_cursor, 0, len(rows), 0, 0, notes,
                               {"era": "sqlite", "runs_table": table, "jobs": len(jobs)}),
                    tuple(jobs), "sqlite")


def _int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _sqlite_jobs(conn: sqlite3.Connection) -> list[CronJobState]:
    cols = _columns(conn, "cron_jobs")
    extra = [c for c in ("consecutive_errors", "last_error", "last_run_status", "last_run_at_ms")
             if c in cols]
    select = ", ".join(["job_id", "name", "enabled", "state_json", *extra])
    jobs = []
    for row in conn.execute(f"SELECT {select} FROM cron_jobs ORDER BY job_id"):
        job_id, name, enabled, state_json = row[:4]
        columns = dict(zip(extra, row[4:], strict=True))
        try:
            state = json.loads(state_json or "{}")
        except (ValueError, TypeError, RecursionError):  # TypeError: a BLOB or a number
            state = {}
        jobs.append(_job(str(job_id), str(name or job_id), bool(enabled),
                         state if isinstance(state, dict) else {}, columns))
    return jobs


def _job(job_id: str, name: str, enabled: bool, state: dict[str, Any],
         columns: dict[str, Any]) -> CronJobState:
    """Merge the state object with the 2026.7 columns (the larger count wins)."""
    errors = max(_count(state.get("consecutiveErrors")), _count(columns.get("consecutive_errors")))
    status = state.get("lastRunStatus") or state.get("lastStatus") or columns.get("last_run_status")
    error = state.get("lastError") or columns.get("last_error")
    last = state.get("lastRunAtMs") or columns.get("last_run_at_ms")
    return CronJobState(job_id, name, enabled, errors,
                        status if isinstance(status, str) else None,
                        error[:MAX_MESSAGE_CHARS] if isinstance(error, str) else None,
                        int(last) if _int(last) else None)


def _count(value: object) -> int:
    return value if _int(value) and value > 0 else 0  # type: ignore[return-value]


def _read_legacy(path: Path, cursor_data: object) -> CronRead:
    kept = _dict(cursor_data)
    try:
        raw = path.read_bytes()
        data = json.loads(raw.decode("utf-8"))
    except OSError as exc:
        return CronRead(SourceRead(SOURCE, FAILED, cursor=kept, notes=(
            f"cannot read {path}: {exc.strerror or exc}",)), None, "file")
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        return CronRead(SourceRead(SOURCE, FAILED, cursor=kept, notes=(
            f"{path} is not valid JSON ({exc}); job errors not judged this run",)), None, "file")
    entries = data.get("jobs") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        return CronRead(SourceRead(SOURCE, FAILED, cursor=kept, notes=(
            f"{path} has no `jobs` list; job errors not judged this run",)), None, "file")
    jobs = []
    bad = 0
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
            bad += 1
            continue
        state = entry.get("state") if isinstance(entry.get("state"), dict) else {}
        jobs.append(_job(entry["id"], str(entry.get("name") or entry["id"]),
                         entry.get("enabled", True) is not False, state, {}))
    return CronRead(SourceRead(SOURCE, PRESENT, (), kept, len(raw), len(entries), bad, 0, (),
                               {"era": "file", "jobs": len(jobs)}), tuple(jobs), "file")
