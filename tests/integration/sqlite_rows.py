"""Add rows to the databases a real 2026.9.6 gateway created, within their rules.

Only for tests, and only while that gateway is stopped (it holds its databases
open, in WAL mode, with its own locks; ctoops itself never writes them). Each
new row is a copy of a row the gateway wrote itself, with only the fields that
matter changed, so every column the gateway fills (and every NOT NULL, CHECK,
STRICT type and partial unique index of its own DDL) is satisfied the way the
gateway satisfies it; an insert that breaks a rule fails loudly here
(sqlite3.IntegrityError), never silently in the code under test.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def state_db(state_dir: Path) -> Path:
    return state_dir / "state" / "openclaw.sqlite"


def agent_db(state_dir: Path, agent: str = "main") -> Path:
    return state_dir / "agents" / agent / "agent" / "openclaw-agent.sqlite"


def read_rows(db: Path, table: str, where: str = "", params: tuple[Any, ...] = ()
              ) -> list[dict[str, Any]]:
    """Rows as dicts, read-only (safe while the gateway runs)."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    con.row_factory = sqlite3.Row
    try:
        sql = f"SELECT * FROM {table}" + (f" WHERE {where}" if where else "")
        return [dict(r) for r in con.execute(sql, params)]
    finally:
        con.close()


@contextmanager
def writing(db: Path) -> Iterator[sqlite3.Connection]:
    """One transaction on a stopped gateway's database (committed on success)."""
    con = sqlite3.connect(db, timeout=5)
    try:
        with con:
            yield con
    finally:
        con.close()


def insert_like(con: sqlite3.Connection, table: str, template: dict[str, Any],
                **changes: Any) -> dict[str, Any]:
    """Insert a copy of `template` (a row the gateway wrote) with `changes`."""
    unknown = set(changes) - set(template)
    if unknown:
        raise KeyError(f"{table} has no column(s) {sorted(unknown)}")
    row = {**template, **changes}
    cols = ", ".join(row)
    con.execute(f"INSERT INTO {table} ({cols}) VALUES ({', '.join('?' * len(row))})",
                list(row.values()))
    return row


def add_task(con: sqlite3.Connection, template: dict[str, Any], task_id: str, status: str,
             child_session_key: str, at_ms: int, owner_pid: int | None) -> dict[str, Any]:
    """A task_runs row: a running one has no end, no error and no outcome."""
    running = status == "running"
    return insert_like(con, "task_runs", template, task_id=task_id, status=status,
                       child_session_key=child_session_key, run_id=str(uuid.uuid4()),
                       label=f"integration {task_id}", task=f"integration task {task_id}",
                       created_at=at_ms - 1_000, started_at=at_ms, last_event_at=at_ms,
                       ended_at=None if running else at_ms, execution_owner_pid=owner_pid,
                       error=None if running else template.get("error"),
                       terminal_summary=None if running else template.get("terminal_summary"),
                       terminal_outcome=None if running else template.get("terminal_outcome"))


def add_session(con: sqlite3.Connection, template: dict[str, Any], key: str, status: str,
                updated_at_ms: int, spawned_by: str | None = None) -> dict[str, Any]:
    """A session_nodes row; its entry_json says the same as its columns."""
    sid = str(uuid.uuid4())
    entry = json.loads(template["entry_json"])
    entry.update(sessionId=sid, updatedAt=updated_at_ms, status=status)
    if spawned_by:
        entry.update(spawnedBy=spawned_by, spawnDepth=1)
    return insert_like(con, "session_nodes", template, session_key=key, current_session_id=sid,
                       entry_json=json.dumps(entry), status=status, updated_at=updated_at_ms,
                       created_at=updated_at_ms - 1_000, spawned_by=spawned_by,
                       parent_session_key=spawned_by,
                       created_via="spawn" if spawned_by else template.get("created_via"))


def add_error_receipts(con: sqlite3.Connection, template: dict[str, Any], finished_ms: list[int]
                       ) -> list[dict[str, Any]]:
    """Finished `error` cron_run_receipts like `template` (never `running`: the
    gateway's partial unique index allows one running receipt per job)."""
    if template["status"] != "error":
        raise ValueError("the template must be an error receipt the gateway wrote")
    out = []
    for at in finished_ms:
        started = at - max(1, template["finished_at_ms"] - template["started_at_ms"])
        out.append(insert_like(con, "cron_run_receipts", template, receipt_id=str(uuid.uuid4()),
                               request_run_id=f"manual:{template['job_id']}:{started}:it",
                               started_at_ms=started, finished_at_ms=at))
    return out
