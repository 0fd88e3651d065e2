"""Build OpenClaw gateway state roots of either storage era, for tests and benchmarks.

Reusable by the integration suite: every builder takes the state root (the
folder that would be ~/.openclaw) and writes the gateway's own layout there.

- SQLite era (2026.8+): `state/openclaw.sqlite` and
  `agents/<id>/agent/openclaw-agent.sqlite`, created with the real gateway's
  table definitions (openclaw_schemas.py, dumped from databases real gateways
  made) and its user_version; rows are inserted by column name.
- File era (up to 2026.7): `agents/<id>/sessions/sessions.json` written as a
  stream (a 100 MB store never sits in memory), with realistic keys and entry
  sizes (skillsSnapshot and systemPromptReport make real entries tens of KB),
  plus `subagents/runs.json`, `cron/jobs.json` and `cron/runs/<jobId>.jsonl`.
All times are epoch milliseconds, as the gateway writes them.
"""

from __future__ import annotations

import json
import random
import sqlite3
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from tests.sessions import openclaw_schemas as schemas

DEFAULT_AGENT = "main"


# --- session keys and entries (both eras) ---------------------------------------------
def key_main(agent: str = DEFAULT_AGENT) -> str:
    return f"agent:{agent}:main"


def key_cron_job(job_id: str, agent: str = DEFAULT_AGENT) -> str:
    return f"agent:{agent}:cron:{job_id}"


def key_cron_run(job_id: str, run_id: str, agent: str = DEFAULT_AGENT) -> str:
    return f"agent:{agent}:cron:{job_id}:run:{run_id}"


def key_subagent(sub_id: str | None = None, agent: str = DEFAULT_AGENT) -> str:
    return f"agent:{agent}:subagent:{sub_id or uuid.uuid4()}"


def key_heartbeat(agent: str = DEFAULT_AGENT) -> str:
    return f"agent:{agent}:heartbeat:main"


def key_group(channel: str, group_id: str, agent: str = DEFAULT_AGENT) -> str:
    return f"agent:{agent}:{channel}:group:{group_id}"


def entry(session_id: str | None = None, status: str | None = "done",
          updated_at: int | None = None, *, pad_bytes: int = 0, spawned_by: str | None = None,
          heartbeat_ms: int | None = None, **extra: Any) -> dict[str, Any]:
    """A legacy session entry; `pad_bytes` of skillsSnapshot/systemPromptReport bulk."""
    sid = session_id or str(uuid.uuid4())
    e: dict[str, Any] = {"sessionId": sid, "updatedAt": updated_at, "sessionFile": f"{sid}.jsonl",
                         "inputTokens": 1200, "outputTokens": 340, "totalTokens": 1540}
    if status is not None:
        e["status"] = status
    if spawned_by:
        e["spawnedBy"] = spawned_by
        e["spawnDepth"] = 1
    if heartbeat_ms is not None:
        e["lastHeartbeatSentAt"] = heartbeat_ms
        e["lastHeartbeatText"] = "HEARTBEAT_OK"
    if pad_bytes > 0:
        # Real bulk: a long prompt string plus many small objects (skills, report
        # sections), so parsing costs what a real entry costs, not a memcpy.
        half, quarter = pad_bytes // 2, pad_bytes // 4
        skills = [{"name": f"skill-{i}", "description": "Does one useful thing well. " * 2,
                   "path": f"skills/skill-{i}/SKILL.md", "enabled": True}
                  for i in range(max(1, quarter // 150))]
        sections = [{"id": f"section-{i}", "chars": 1000 + i, "tokens": 250 + i,
                     "source": "workspace", "truncated": False}
                    for i in range(max(1, quarter // 100))]
        e["skillsSnapshot"] = {"prompt": "You are a careful agent. " * (half // 25),
                               "skills": skills}
        e["systemPromptReport"] = {"chars": pad_bytes, "sections": sections}
    e.update(extra)
    return e


# --- file era ---------------------------------------------------------------------------
def write_sessions_json(state_dir: Path, items: Iterable[tuple[str, dict[str, Any]]],
                        agent: str = DEFAULT_AGENT) -> Path:
    """Stream `items` into agents/<agent>/sessions/sessions.json (the gateway's layout)."""
    path = state_dir / "agents" / agent / "sessions" / "sessions.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        fh.write("{")
        for i, (key, value) in enumerate(items):
            fh.write(("," if i else "") + "\n  " + json.dumps(key) + ": "
                     + json.dumps(value, ensure_ascii=False))
        fh.write("\n}\n")
    return path


def realistic_items(target_bytes: int, now_ms: int, agent: str = DEFAULT_AGENT,
                    entry_bytes: int = 20_000, running: int = 5, seed: int = 7
                    ) -> Iterator[tuple[str, dict[str, Any]]]:
    """A store of about `target_bytes`: a main entry, cron jobs and their runs,
    subagents, groups; mostly done, some failed, a few running (recent)."""
    rng = random.Random(seed)
    yield key_main(agent), entry(status="running", updated_at=now_ms - 5_000,
                                 heartbeat_ms=now_ms - 60_000, pad_bytes=entry_bytes)
    written = entry_bytes
    i = 0
    while written < target_bytes:
        i += 1
        kind = i % 4
        run = str(uuid.UUID(int=rng.getrandbits(128)))
        if kind == 0:
            key = key_cron_run(f"job-{i % 17}", run, agent)
        elif kind == 1:
            key = key_subagent(run, agent)
        elif kind == 2:
            key = key_group("discord", str(10**17 + i), agent)
        else:
            key = key_cron_job(f"job-{i}", agent)
        status = "running" if i <= running else ("failed" if i % 23 == 0 else "done")
        updated = now_ms - (1_000 if status == "running" else rng.randint(60_000, 30 * 86_400_000))
        pad = max(0, int(entry_bytes * rng.uniform(0.5, 1.5)))
        yield key, entry(run, status, updated, pad_bytes=pad)
        written += pad + 300


def write_subagents_json(state_dir: Path, runs: dict[str, dict[str, Any]]) -> Path:
    path = state_dir / "subagents" / "runs.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"version": 1, "runs": runs}), encoding="utf-8")
    return path


def write_cron_jobs_json(state_dir: Path, jobs: list[dict[str, Any]]) -> Path:
    path = state_dir / "cron" / "jobs.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"version": 1, "jobs": jobs}), encoding="utf-8")
    return path


def heartbeat_job(agent: str, last_run_ms: int | None, every_ms: int = 1_800_000,
                  enabled: bool = True, created_ms: int | None = None) -> dict[str, Any]:
    """A heartbeat cron job as 2026.9.6 defines it (payload kind heartbeat)."""
    state = {} if last_run_ms is None else {"lastRunAtMs": last_run_ms, "lastStatus": "ok"}
    return {"id": str(uuid.uuid4()), "declarationKey": f"heartbeat:{agent}", "agentId": agent,
            "name": f"heartbeat-{agent}", "enabled": enabled,
            "createdAtMs": created_ms if created_ms is not None else 0,
            "schedule": {"kind": "every", "everyMs": every_ms, "anchorMs": 0},
            "sessionTarget": "main", "wakeMode": "next-heartbeat",
            "payload": {"kind": "heartbeat"}, "state": state}


def append_cron_run(state_dir: Path, job_id: str, session_id: str, status: str, run_at_ms: int,
                    agent: str = DEFAULT_AGENT, error: str | None = None) -> Path:
    """One `finished` line, as the gateway appends per run."""
    path = state_dir / "cron" / "runs" / f"{job_id}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    line = {"ts": run_at_ms + 2_000, "jobId": job_id, "action": "finished", "status": status,
            "error": error, "sessionId": session_id,
            "sessionKey": key_cron_run(job_id, session_id, agent), "runAtMs": run_at_ms,
            "durationMs": 2_000}
    with path.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(line) + "\n")
    return path


# --- SQLite era ------------------------------------------------------------------------
def _insert(con: sqlite3.Connection, table: str, row: dict[str, Any]) -> None:
    cols = ", ".join(row)
    marks = ", ".join("?" * len(row))
    con.execute(f"INSERT INTO {table} ({cols}) VALUES ({marks})", list(row.values()))


def _create(path: Path, ddl: str, user_version: int) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(path)
    con.executescript(ddl)
    con.execute(f"PRAGMA user_version = {int(user_version)}")
    return con


def task_row(task_id: str, status: str, child_session_key: str | None, *, now_ms: int,
             agent: str = DEFAULT_AGENT, error: str | None = None, owner_pid: int | None = None,
             label: str | None = None) -> dict[str, Any]:
    row = {"task_id": task_id, "runtime": "subagent", "owner_key": f"agent:{agent}:main",
           "scope_kind": "session", "child_session_key": child_session_key, "agent_id": agent,
           "task": label or f"task {task_id}", "label": label, "status": status,
           "delivery_status": "pending", "notify_policy": "default", "created_at": now_ms - 60_000,
           "started_at": now_ms - 50_000, "last_event_at": now_ms - 40_000, "error": error}
    if owner_pid is not None:
        row["execution_owner_pid"] = owner_pid
    return row


def make_state_db(state_dir: Path, *, release: str = "2026.9.6", user_version: int | None = None,
                  tasks: Iterable[dict[str, Any]] = (), heartbeat_jobs: Iterable[dict[str, Any]] = (),
                  boots: Iterable[dict[str, Any]] = (), lease: dict[str, Any] | None = None,
                  receipts: Iterable[dict[str, Any]] = (),
                  subagents: Iterable[dict[str, Any]] = ()) -> Path:
    """state/openclaw.sqlite with the real DDL of `release` (2026.9.6 or 2026.7.1)."""
    ddl, uv = ((schemas.STATE_DB_2026_9_6, schemas.STATE_DB_2026_9_6_USER_VERSION)
               if release == "2026.9.6" else
               (schemas.STATE_DB_2026_7_1, schemas.STATE_DB_2026_7_1_USER_VERSION))
    path = state_dir / "state" / "openclaw.sqlite"
    con = _create(path, ddl, uv if user_version is None else user_version)
    store_key = str(state_dir / "cron" / "jobs.json")
    with con:
        for row in tasks:
            _insert(con, "task_runs", row)
        for i, job in enumerate(heartbeat_jobs):
            row = {"store_key": store_key, "job_id": job["id"], "name": job["name"],
                   "enabled": int(job.get("enabled", True)), "agent_id": job.get("agentId"),
                   "payload_kind": "heartbeat", "job_json": json.dumps({**job, "state": {}}),
                   "state_json": json.dumps(job.get("state", {})), "sort_order": i,
                   "updated_at": 0}
            if release != "2026.9.6":
                row.update(created_at_ms=0, schedule_kind="every", session_target="main",
                           wake_mode="next-heartbeat")
            _insert(con, "cron_jobs", row)
        for b in boots:
            _insert(con, "gateway_boot_lifecycle", b)
        if lease is not None:
            _insert(con, "state_leases", lease)
        for r in receipts:
            _insert(con, "cron_run_receipts", r)
        for s in subagents:
            _insert(con, "subagent_runs", s)
    con.close()
    return path


def boot_row(pid: int, started_ms: int, completed_ms: int | None = None,
             outcome: str | None = None) -> dict[str, Any]:
    return {"boot_id": str(uuid.uuid4()), "pid": pid, "started_at_ms": started_ms,
            "completed_at_ms": completed_ms, "outcome": outcome,
            "reason": "stop (SIGTERM)" if outcome else None}


def owner_lease(pid: int, started_ticks: int | None, host: str, now_ms: int,
                port: int = 18789) -> dict[str, Any]:
    """The `gateway-owner` lease row, payload as 2026.9.6 writes it."""
    payload = {"owner": {"pid": pid, "host": host, "startedAt": started_ticks}, "port": port,
               "mode": "foreground", "supervisor": None}
    return {"scope": "gateway-owner", "lease_key": "global", "owner": str(uuid.uuid4()),
            "expires_at": now_ms + 300_000, "heartbeat_at": now_ms, "payload_json":
            json.dumps(payload), "created_at": now_ms - 1_000, "updated_at": now_ms}


def session_row(key: str, status: str | None, updated_at: int, *, session_id: str | None = None,
                spawned_by: str | None = None, heartbeat_ms: int | None = None,
                pad_bytes: int = 0) -> dict[str, Any]:
    sid = session_id or str(uuid.uuid4())
    body = entry(sid, status, updated_at, pad_bytes=pad_bytes, spawned_by=spawned_by,
                 heartbeat_ms=heartbeat_ms)
    return {"session_key": key, "current_session_id": sid, "entry_json": json.dumps(body),
            "entry_valid": 1, "updated_at": updated_at, "status": status,
            "created_at": updated_at - 1_000, "spawned_by": spawned_by,
            "parent_session_key": spawned_by}


def make_agent_db(state_dir: Path, rows: Iterable[dict[str, Any]], agent: str = DEFAULT_AGENT,
                  user_version: int | None = None, ddl: str | None = None) -> Path:
    """agents/<agent>/agent/openclaw-agent.sqlite with the real session_nodes DDL."""
    path = state_dir / "agents" / agent / "agent" / "openclaw-agent.sqlite"
    con = _create(path, ddl or schemas.AGENT_DB_2026_9_6,
                  schemas.AGENT_DB_2026_9_6_USER_VERSION if user_version is None else user_version)
    with con:
        if ddl is None:
            _insert(con, "schema_meta", {"meta_key": "agent", "role": "agent",
                                         "schema_version": 23, "agent_id": agent,
                                         "app_version": "2026.9.6", "created_at": 0,
                                         "updated_at": 0})
        batch: list[dict[str, Any]] = []
        for row in rows:
            batch.append(row)
            if len(batch) >= 5000:
                _insert_many(con, batch)
                batch = []
        if batch:
            _insert_many(con, batch)
    con.close()
    return path


def _insert_many(con: sqlite3.Connection, rows: list[dict[str, Any]]) -> None:
    cols = list(rows[0])
    con.executemany(f"INSERT INTO session_nodes ({', '.join(cols)}) VALUES "
                    f"({', '.join('?' * len(cols))})", [[r[c] for c in cols] for r in rows])
