"""What the legacy (file-era) gateway recorded about cron runs and subagent runs.

The dead-run prune needs two facts besides the session stores, and file-era
releases keep them in two places:
- finished cron runs: `cron/runs/<jobId>.jsonl` (one `{"action":"finished", ...}`
  line per run) in earlier releases; by 2026.7.1 the gateway moves those logs into
  `state/openclaw.sqlite`, table `cron_run_logs` (one row per finished run, with
  `job_id`, `session_id`, `session_key`, `run_id`), and removes the files;
- subagent runs: `subagents/runs.json` (`{version, runs: {<runId>:
  {childSessionKey, requesterSessionKey?, controllerSessionKey?, endedAt?}}}`) or,
  by 2026.7.1, table `subagent_runs` (`child_session_key`, `requester_session_key`,
  `controller_session_key`, `ended_at`). A run without an end is still running.
Both are read, the database only through a read-only URI and one short query
(never written). Unreadable sources are reported, not guessed: the policy then
protects whatever it cannot judge.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import stat
from dataclasses import dataclass, field
from pathlib import Path

from ctoops.probes.openclaw.sqlite_ro import connect_ro

_SAFE_JOB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]*$")
MAX_RUN_LOG_BYTES = 64 * 1024 * 1024
STATE_DB = Path("state") / "openclaw.sqlite"
DB_TIMEOUT_S = 2.0
SQL_CHUNK = 500


def _query(db: Path, table: str, sql: str, params: tuple[str, ...] = ()) -> list[tuple]:
    """One read-only query; no rows when the table does not exist (a release that
    keeps these facts elsewhere)."""
    con = connect_ro(db, DB_TIMEOUT_S)
    try:
        found = con.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                            (table,)).fetchone()
        return con.execute(sql, params).fetchall() if found else []
    finally:
        con.close()


@dataclass(frozen=True)
class FinishedRuns:
    """Per job id: the runIds, sessionIds and sessionKeys of its finished runs."""

    by_job: dict[str, frozenset[str]] = field(default_factory=dict)
    problems: tuple[str, ...] = ()


@dataclass(frozen=True)
class SubagentRuns:
    running_child_keys: frozenset[str]
    edges: tuple[tuple[str, str], ...]  # (requester/parent key, child key)
    known: bool  # False: the registry exists but could not be read
    problem: str = ""


def _regular_file(path: Path) -> bool:
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def read_finished_runs(state_dir: Path, job_ids: set[str]) -> FinishedRuns:
    """Identifiers of finished runs for the given jobs (only names that are safe as
    file names are looked up; a symlinked or oversized log is skipped and named)."""
    out: dict[str, frozenset[str]] = {}
    problems: list[str] = []
    runs_dir = state_dir / "cron" / "runs"
    for job_id in sorted(job_ids):
        if not _SAFE_JOB_ID.match(job_id):
            problems.append(f"job id {job_id!r} is not a safe file name; its run log was not read")
            continue
        path = runs_dir / f"{job_id}.jsonl"
        if not _regular_file(path):
            continue
        try:
            if path.stat().st_size > MAX_RUN_LOG_BYTES:
                problems.append(f"{path} is over {MAX_RUN_LOG_BYTES} bytes; not read")
                continue
            raw = path.read_bytes()
        except OSError as exc:
            problems.append(f"cannot read {path}: {exc.strerror or exc}")
            continue
        ids: set[str] = set()
        for line in raw.splitlines():
            if b'"finished"' not in line:
                continue
            try:
                record = json.loads(line)
            except (ValueError, RecursionError):
                continue  # a torn last line while the gateway appends
            if not isinstance(record, dict) or record.get("action") != "finished":
                continue
            if record.get("jobId") not in (None, job_id):
                continue
            for name in ("runId", "sessionId", "sessionKey"):
                value = record.get(name)
                if isinstance(value, str) and value:
                    ids.add(value)
        out[job_id] = frozenset(ids)
    db = state_dir / STATE_DB
    if job_ids and _regular_file(db):
        jobs = sorted(job_ids)
        try:
            for i in range(0, len(jobs), SQL_CHUNK):
                chunk = tuple(jobs[i:i + SQL_CHUNK])
                rows = _query(db, "cron_run_logs",
                              "SELECT job_id, session_id, session_key, run_id FROM cron_run_logs "
                              f"WHERE job_id IN ({', '.join('?' * len(chunk))})", chunk)
                for job_id, *values in rows:
                    ids = {v for v in values if isinstance(v, str) and v}
                    out[job_id] = out.get(job_id, frozenset()) | ids
        except sqlite3.Error as exc:
            problems.append(f"{db}: cron_run_logs not readable: {exc}")
    return FinishedRuns(out, tuple(problems))


def read_subagent_runs(state_dir: Path) -> SubagentRuns:
    running: set[str] = set()
    edges: list[tuple[str, str]] = []
    problems: list[str] = []
    path = state_dir / "subagents" / "runs.json"
    if path.exists() or path.is_symlink():
        try:
            if not _regular_file(path):
                raise ValueError("not a regular file")
            data = json.loads(path.read_bytes())
            runs = data.get("runs") if isinstance(data, dict) else None
            if not isinstance(runs, dict):
                raise ValueError("no 'runs' object")
            malformed = 0
            for run in runs.values():
                # A run the registry cannot name a child for may be the one keeping
                # a cron run alive: the registry is then not known in full.
                if not isinstance(run, dict) or not isinstance(run.get("childSessionKey"), str):
                    malformed += 1
                    continue
                _add_run(run.get("childSessionKey"), (run.get("requesterSessionKey"),
                         run.get("controllerSessionKey")), run.get("endedAt"), running, edges)
            if malformed:
                raise ValueError(f"{malformed} run(s) without a childSessionKey string")
        except (OSError, ValueError, RecursionError) as exc:
            problems.append(f"{path}: {exc}")
    db = state_dir / STATE_DB
    if _regular_file(db):
        try:
            rows = _query(db, "subagent_runs",
                          "SELECT child_session_key, requester_session_key, "
                          "controller_session_key, ended_at FROM subagent_runs")
            for child, requester, controller, ended in rows:
                _add_run(child, (requester, controller), ended, running, edges)
        except sqlite3.Error as exc:
            problems.append(f"{db}: subagent_runs not readable: {exc}")
    return SubagentRuns(frozenset(running), tuple(edges), not problems, "; ".join(problems))


def _add_run(child: object, parents: tuple[object, ...], ended: object, running: set[str],
             edges: list[tuple[str, str]]) -> None:
    if not isinstance(child, str) or not child.strip():
        return
    child = child.strip()
    for parent in parents:
        if isinstance(parent, str) and parent.strip():
            edges.append((parent.strip(), child))
    # A 400-digit integer is no more an end time than Infinity (JavaScript reads
    # both the same way): only a plausible epoch-ms number ends a run.
    finite = (isinstance(ended, (int, float)) and not isinstance(ended, bool)
              and ended == ended and abs(ended) < 2**53)
    if not finite:
        running.add(child)
