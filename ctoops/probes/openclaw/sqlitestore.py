"""Read the gateway's SQLite databases (2026.8+, and the 2026.7 shared state DB), read-only.

- `state/openclaw.sqlite`: task_runs, subagent_runs, cron_jobs (the heartbeat
  job), cron_run_receipts, gateway_boot_lifecycle, state_leases (the
  `gateway-owner` lease). 2026.7.1 already keeps most of these tables here
  (user_version 1, no cron_run_receipts); 2026.9.6 is user_version 18.
- `agents/<agentId>/agent/openclaw-agent.sqlite`: session_nodes (user_version 23
  in 2026.9.6).
- `tasks/runs.sqlite`: the older task ledger sidecar, same task_runs columns.

Every database is opened through a `file:...?mode=ro` URI with `query_only`, and
all reads of one database happen in one short deferred transaction (a consistent
snapshot, released at once). OpenClaw's own rule is that outside tools never
write these databases; nothing here can.

Schemas: columns are read by name. `PRAGMA user_version` is compared with the
versions this code was checked against; an unknown version is reported, and a
table is still read when it has the columns needed, or skipped with a finding
naming the missing columns. Nothing here raises for a bad database.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ctoops.probes.openclaw.filestore import heartbeat_from_job
from ctoops.probes.openclaw.model import (
    DEAD_STATUSES,
    AgentSessions,
    BootRecord,
    CronRunRecord,
    HeartbeatRecord,
    LeaseRecord,
    Problem,
    SessionRecord,
    StateDbView,
    SubagentRun,
    TaskRun,
)
from ctoops.probes.openclaw.sqlite_ro import connect_ro

STATE_DB_VERSIONS = {1: "2026.7.1", 18: "2026.9.6"}
AGENT_DB_VERSIONS = {23: "2026.9.6"}
BUSY_TIMEOUT_S = 2.0
ROW_CAP = 5000
BOOTS_KEPT = 20
DEAD_SAMPLE = 20
IN_BATCH = 500

# The columns each reader needs; everything else it reads is optional.
REQUIRED: dict[str, set[str]] = {
    "task_runs": {"task_id", "status", "child_session_key"},
    "subagent_runs": {"run_id", "child_session_key"},
    "cron_jobs": {"job_id", "payload_kind", "state_json"},
    "cron_run_receipts": {"job_id", "status", "owner_pid", "started_at_ms"},
    "gateway_boot_lifecycle": {"boot_id", "pid", "started_at_ms"},
    "state_leases": {"scope", "lease_key", "owner", "payload_json"},
    "session_nodes": {"session_key", "status", "updated_at"},
}


class DbProblem(Exception):
    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.message)
        self.problem = problem


@contextmanager
def open_ro(path: Path) -> Iterator[sqlite3.Connection]:
    """A read-only connection inside one deferred transaction."""
    try:
        con = connect_ro(path, BUSY_TIMEOUT_S)
    except sqlite3.Error as exc:
        raise DbProblem(Problem(str(path), "unreadable", f"cannot open read-only: {exc}")) from exc
    try:
        con.execute("BEGIN")
        yield con
    except sqlite3.DatabaseError as exc:
        kind = "unreadable" if isinstance(exc, sqlite3.OperationalError) else "malformed"
        raise DbProblem(Problem(str(path), kind, f"{exc}")) from exc
    finally:
        con.close()  # ends the read transaction (nothing was written to commit)


class _Schema:
    """Which tables and columns a database has, and what that means for reading."""

    def __init__(self, con: sqlite3.Connection, source: str, known: dict[int, str]) -> None:
        self.con = con
        self.source = source
        self.version = int(con.execute("PRAGMA user_version").fetchone()[0])
        self.problems: list[Problem] = []
        self.known = self.version in known
        if not self.known:
            names = ", ".join(f"{v} ({rel})" for v, rel in sorted(known.items()))
            self.problems.append(Problem(source, "unknown_schema",
                                         f"schema version {self.version} is not one ctoops was "
                                         f"checked against ({names}); tables are read by column "
                                         "name where the columns needed are there", "low"))

    def columns(self, table: str) -> set[str] | None:
        """The table's columns when it is readable for our purpose, else None."""
        rows = self.con.execute(f"PRAGMA table_info({table})").fetchall()
        if not rows:
            return None
        cols = {str(r[1]) for r in rows}
        missing = REQUIRED[table] - cols
        if missing:
            self.problems.append(Problem(f"{self.source}:{table}", "unknown_schema",
                                         f"table {table} lacks the columns {sorted(missing)} "
                                         f"(schema version {self.version}); not read"))
            return None
        return cols


def _pick(cols: set[str], wanted: list[str]) -> str:
    """A select list: the column when present, NULL in its place when not."""
    return ", ".join(c if c in cols else f"NULL AS {c}" for c in wanted)


def _json(text: Any) -> dict[str, Any]:
    if not isinstance(text, str):
        return {}
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return {}
    return value if isinstance(value, dict) else {}


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


# --- the shared state database ------------------------------------------------------
def read_state_db(path: Path, wanted_tasks: frozenset[str] = frozenset()) -> StateDbView:
    """Tasks, subagents, heartbeat jobs, cron receipts, boots and the owner lease."""
    try:
        with open_ro(path) as con:
            schema = _Schema(con, str(path), STATE_DB_VERSIONS)
            view = StateDbView(
                tasks=_tasks(con, schema, wanted_tasks),
                subagents=_subagents(con, schema),
                heartbeats=_heartbeats(con, schema),
                cron_runs=_receipts(con, schema),
                boots=_boots(con, schema),
                lease=_lease(con, schema),
                schema_version=schema.version)
    except DbProblem as exc:
        return StateDbView(problems=(exc.problem,))
    return StateDbView(**{**view.__dict__, "problems": tuple(schema.problems)})


def read_tasks_db(path: Path, wanted_tasks: frozenset[str] = frozenset()) -> StateDbView:
    """The older `tasks/runs.sqlite` ledger: task_runs only."""
    try:
        with open_ro(path) as con:
            schema = _Schema(con, str(path), {})
            schema.problems.clear()  # a sidecar with no published versions: columns decide
            tasks = _tasks(con, schema, wanted_tasks)
    except DbProblem as exc:
        return StateDbView(problems=(exc.problem,))
    return StateDbView(tasks=tasks, schema_version=schema.version,
                       problems=tuple(schema.problems))


_SUBAGENT_COLS = ["run_id", "child_session_key", "requester_session_key", "created_at",
                  "started_at", "ended_at", "outcome_json", "payload_json"]
_RECEIPT_COLS = ["job_id", "agent_id", "request_run_id", "status", "started_at_ms",
                 "finished_at_ms", "owner_pid", "error_text"]
_BOOT_COLS = ["boot_id", "pid", "started_at_ms", "completed_at_ms", "outcome", "reason"]
_TASK_COLS = ["task_id", "status", "child_session_key", "agent_id", "label", "task",
              "started_at", "last_event_at", "error", "execution_owner_pid",
              "execution_owner_start_identity"]


def _tasks(con: sqlite3.Connection, schema: _Schema, wanted: frozenset[str]
           ) -> tuple[TaskRun, ...]:
    """Running and queued tasks, plus any task a board entry names (by id)."""
    cols = schema.columns("task_runs")
    if cols is None:
        return ()
    select = f"SELECT {_pick(cols, _TASK_COLS)} FROM task_runs"
    rows = con.execute(f"{select} WHERE status IN ('running', 'queued') LIMIT {ROW_CAP}").fetchall()
    ids = sorted(wanted)
    for i in range(0, len(ids), IN_BATCH):
        batch = ids[i:i + IN_BATCH]
        marks = ",".join("?" * len(batch))
        rows += con.execute(f"{select} WHERE task_id IN ({marks}) "
                            "AND status NOT IN ('running', 'queued')", batch).fetchall()
    return tuple(TaskRun(str(r[0]), str(r[1]), _str(r[2]), _str(r[3]), _str(r[4]) or _str(r[5]),
                         _int(r[6]), _int(r[7]), _str(r[8]), _int(r[9]), _int(r[10]))
                 for r in rows)


def _subagents(con: sqlite3.Connection, schema: _Schema) -> tuple[SubagentRun, ...]:
    """Recent subagent runs; the status lives in payload_json (`execution.status`)
    in 2026.9, in ended_at/outcome_json columns in 2026.7."""
    cols = schema.columns("subagent_runs")
    if cols is None:
        return ()
    rows = con.execute(
        f"SELECT {_pick(cols, _SUBAGENT_COLS)} "
        f"FROM subagent_runs ORDER BY created_at DESC LIMIT {ROW_CAP}").fetchall()
    out = []
    for run_id, child, requester, created, started, ended, outcome, payload in rows:
        body = _json(payload)
        execution = body.get("execution") if isinstance(body.get("execution"), dict) else {}
        status = _str(execution.get("status"))
        ended_ms = _int(ended) or _int(execution.get("endedAt"))
        if status is None:
            status = "running" if ended_ms is None else (_str(_json(outcome).get("status")) or "done")
        out.append(SubagentRun(str(run_id), str(child), _str(requester), status,
                               _int(started) or _int(execution.get("startedAt")) or _int(created),
                               ended_ms))
    return tuple(out)


def _heartbeats(con: sqlite3.Connection, schema: _Schema) -> tuple[HeartbeatRecord, ...]:
    cols = schema.columns("cron_jobs")
    if cols is None:
        return ()
    rows = con.execute(
        f"SELECT {_pick(cols, ['agent_id', 'enabled', 'state_json', 'job_json', 'last_run_at_ms'])} "
        "FROM cron_jobs WHERE payload_kind = 'heartbeat'").fetchall()
    out = []
    for agent_id, enabled, state_json, job_json, last_run in rows:
        job = _json(job_json)
        if enabled is not None:
            job["enabled"] = bool(enabled)
        state = _json(state_json)
        if "lastRunAtMs" not in state and _int(last_run) is not None:
            state["lastRunAtMs"] = last_run
        out.append(heartbeat_from_job(job, state, _str(agent_id)))
    return tuple(out)


def _receipts(con: sqlite3.Connection, schema: _Schema) -> tuple[CronRunRecord, ...]:
    """Cron runs that claim to be running (their owner pid tells whether they are)."""
    cols = schema.columns("cron_run_receipts")
    if cols is None:
        return ()
    rows = con.execute(
        f"SELECT {_pick(cols, _RECEIPT_COLS)} "
        f"FROM cron_run_receipts WHERE status = 'running' LIMIT {ROW_CAP}").fetchall()
    return tuple(CronRunRecord(str(j), _str(a), _str(r), None, str(s), _int(st), _int(f), _int(p),
                               _str(e)) for j, a, r, s, st, f, p, e in rows)


def _boots(con: sqlite3.Connection, schema: _Schema) -> tuple[BootRecord, ...]:
    cols = schema.columns("gateway_boot_lifecycle")
    if cols is None:
        return ()
    rows = con.execute(
        f"SELECT {_pick(cols, _BOOT_COLS)} "
        f"FROM gateway_boot_lifecycle ORDER BY started_at_ms DESC LIMIT {BOOTS_KEPT}").fetchall()
    return tuple(BootRecord(str(b), int(p), int(s), _int(c), _str(o), _str(r))
                 for b, p, s, c, o, r in rows if _int(p) is not None and _int(s) is not None)


def _lease(con: sqlite3.Connection, schema: _Schema) -> LeaseRecord | None:
    cols = schema.columns("state_leases")
    if cols is None:
        return None
    row = con.execute(
        f"SELECT {_pick(cols, ['owner', 'expires_at', 'heartbeat_at', 'payload_json'])} "
        "FROM state_leases WHERE scope = 'gateway-owner' ORDER BY lease_key LIMIT 1").fetchone()
    if row is None:
        return None
    owner, expires, beat, payload = row
    body = _json(payload)
    proc = body.get("owner") if isinstance(body.get("owner"), dict) else {}
    return LeaseRecord(str(owner), _int(proc.get("pid")), _str(proc.get("host")),
                       _int(proc.get("startedAt")), _int(expires), _int(beat), _int(body.get("port")))


# --- one agent's database ------------------------------------------------------------
def read_agent_db(path: Path, agent_id: str, wanted: frozenset[str] = frozenset(),
                  dead_sample: int = DEAD_SAMPLE) -> AgentSessions:
    """Counts by status, every running session, the named ones, a sample of the dead."""
    source = str(path)
    try:
        size = path.stat().st_size
        with open_ro(path) as con:
            schema = _Schema(con, source, AGENT_DB_VERSIONS)
            cols = schema.columns("session_nodes")
            if cols is None:
                if not any(p.source.endswith(":session_nodes") for p in schema.problems):
                    schema.problems.append(Problem(source, "unknown_schema",
                                                   "no session_nodes table; not read"))
                return AgentSessions(agent_id, "sqlite", source, False,
                                     schema_version=schema.version,
                                     problems=tuple(schema.problems))
            pick = _pick(cols, ["session_key", "current_session_id", "status", "updated_at",
                                "spawned_by", "parent_session_key"])
            by_status = {str(s or "unknown"): int(n) for s, n in con.execute(
                "SELECT status, count(*) FROM session_nodes GROUP BY status")}
            rows = con.execute(f"SELECT {pick} FROM session_nodes WHERE status = 'running' "
                               f"ORDER BY updated_at DESC LIMIT {ROW_CAP}").fetchall()
            keys = sorted(wanted)
            for i in range(0, len(keys), IN_BATCH):
                batch = keys[i:i + IN_BATCH]
                rows += con.execute(f"SELECT {pick} FROM session_nodes WHERE session_key IN "
                                    f"({','.join('?' * len(batch))}) AND "
                                    "(status IS NULL OR status != 'running')", batch).fetchall()
            dead = ",".join(f"'{s}'" for s in DEAD_STATUSES)
            rows += con.execute(f"SELECT {pick} FROM session_nodes WHERE status IN ({dead}) "
                                f"ORDER BY updated_at DESC LIMIT {int(dead_sample)}").fetchall()
            heartbeat = _main_heartbeat(con, cols, agent_id)
    except DbProblem as exc:
        return AgentSessions(agent_id, "sqlite", source, False, problems=(exc.problem,))
    except OSError as exc:
        return AgentSessions(agent_id, "sqlite", source, False, problems=(
            Problem(source, "unreadable", f"cannot read: {exc.strerror or exc}"),))
    seen: set[str] = set()
    records = []
    for key, sid, status, updated, spawned, parent in rows:
        if key in seen:
            continue
        seen.add(key)
        records.append(SessionRecord(str(key), agent_id, _str(sid), _str(status), _int(updated),
                                     _str(spawned) or _str(parent)))
    problems = list(schema.problems)
    if by_status.get("running", 0) > ROW_CAP:
        problems.append(Problem(source, "too_many_running", f"{by_status['running']} sessions "
                                f"claim running; the newest {ROW_CAP} were judged", "low"))
    return AgentSessions(agent_id, "sqlite", source, True, sum(by_status.values()), by_status,
                         tuple(records), heartbeat, schema.version, size, 0, tuple(problems))


def _main_heartbeat(con: sqlite3.Connection, cols: set[str], agent_id: str) -> int | None:
    """The main entry's lastHeartbeatSentAt, when the release still keeps it there."""
    if "entry_json" not in cols:
        return None
    row = con.execute("SELECT entry_json FROM session_nodes WHERE session_key = ?",
                      (f"agent:{agent_id}:main",)).fetchone()
    return _int(_json(row[0]).get("lastHeartbeatSentAt")) if row else None
