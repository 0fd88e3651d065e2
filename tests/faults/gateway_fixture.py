"""A small file-era gateway state root whose right prune is "nothing", and the
ways to break each of its files (for test_bad_gateway_stores.py).

Every cron run in it is kept for exactly one reason, so a reader that loses a
fact makes a difference the tests can see:
- `run:r1` is superseded (the base entry points at r2) and kept only because
  its subagent `s1` is running by the registry (`subagents/runs.json`);
- `run:r2` is the current run, its own entry says running.
`registry_ended()` gives the registry in which s1 has ended: then r1 is dead, so
the test can show the baseline would notice a lost fact.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

NOW_S = 1_800_000_000.0
NOW_MS = int(NOW_S * 1000)
R1 = "agent:main:cron:nightly:run:r1"
R2 = "agent:main:cron:nightly:run:r2"
S1 = "agent:main:subagent:s1"


def sessions() -> dict[str, Any]:
    return {
        "agent:main:main": {"sessionId": "m1", "updatedAt": NOW_MS - 60_000,
                            "lastHeartbeatSentAt": NOW_MS - 60_000, "status": "running"},
        "agent:main:cron:nightly": {"sessionId": "r2", "updatedAt": NOW_MS - 60_000},
        R1: {"sessionId": "r1", "updatedAt": NOW_MS - 3_600_000, "status": "done",
             "skillsSnapshot": {"prompt": "caf\u00e9 \u65e5\u5fd7 \U0001f99e", "n": 1.5e-7}},
        S1: {"sessionId": "s1", "updatedAt": NOW_MS - 600_000, "status": "done",
             "spawnedBy": R1, "spawnDepth": 1},
        R2: {"sessionId": "r2", "updatedAt": NOW_MS - 60_000, "status": "running"},
        "agent:main:discord:group:1": {"sessionId": "g1", "updatedAt": NOW_MS - 7_200_000},
    }


def registry() -> dict[str, Any]:
    return {"version": 2, "runs": {"sr1": {"childSessionKey": S1, "requesterSessionKey": R1,
                                           "startedAt": NOW_MS - 600_000}}}


def registry_ended() -> dict[str, Any]:
    reg = registry()
    reg["runs"]["sr1"]["endedAt"] = NOW_MS - 500_000
    return reg


def jobs() -> dict[str, Any]:
    return {"version": 1, "jobs": [
        {"id": "nightly", "name": "nightly", "enabled": True, "agentId": "main",
         "state": {"lastRunAtMs": NOW_MS - 60_000, "lastStatus": "ok", "consecutiveErrors": 0}},
        {"id": "hb", "name": "heartbeat", "agentId": "main", "payload": {"kind": "heartbeat"},
         "schedule": {"everyMs": 1_800_000}, "state": {"lastRunAtMs": NOW_MS - 60_000}}]}


def run_log() -> bytes:
    line = {"ts": NOW_MS - 3_000_000, "jobId": "nightly", "action": "finished", "status": "ok",
            "runId": "r0", "runAtMs": NOW_MS - 3_005_000, "durationMs": 5000}
    return (json.dumps(line) + "\n").encode()


def board() -> dict[str, Any]:
    return {"version": 1, "tasks": [
        {"id": "T1", "status": "in_progress", "session_key": R2, "title": "nightly report",
         "owner": "someone else's field"},
        {"id": "T2", "status": "done", "session_key": R1}]}


def events() -> bytes:
    return b"".join(json.dumps({"ts": NOW_S - 30 * i, "level": "error", "source": "tool",
                                "message": f"upstream timeout after {i} s"}).encode() + b"\n"
                    for i in range(3))


PATHS = {
    "sessions": "agents/main/sessions/sessions.json",
    "registry": "subagents/runs.json",
    "jobs": "cron/jobs.json",
    "run_log": "cron/runs/nightly.jsonl",
    "sidecar": "agents/main/sessions/sessions.json.lock",
    "state_db": "state/openclaw.sqlite",
    "agent_db": "agents/ops/agent/openclaw-agent.sqlite",
}


def build(state_dir: Path, registry_doc: dict[str, Any] | None = None) -> None:
    """Write the baseline gateway state root."""
    files = {PATHS["sessions"]: json.dumps(sessions(), indent=2, ensure_ascii=False).encode(),
             PATHS["registry"]: json.dumps(registry_doc or registry(), indent=2).encode(),
             PATHS["jobs"]: json.dumps(jobs(), indent=2).encode(),
             PATHS["run_log"]: run_log()}
    for rel, data in files.items():
        path = state_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def sqlite_db(path: Path, ddl: str, rows: list[tuple[str, dict[str, Any]]],
              user_version: int = 0) -> Path:
    """A database with this DDL and these rows (table, row)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(path)
    try:
        con.executescript(ddl)
        con.execute(f"PRAGMA user_version = {int(user_version)}")
        with con:
            for table, row in rows:
                con.execute(f"INSERT INTO {table} ({', '.join(row)}) VALUES "
                            f"({', '.join('?' * len(row))})", list(row.values()))
    finally:
        con.close()
    return path


def workspace_config(root: Path, state_dir: Path, ready_url: str, marker: Path) -> dict[str, Any]:
    import sys

    return {
        "gateway": {"restart_command": [sys.executable, "-c",
                                        f"open({str(marker)!r}, 'a').write('restart\\n')"],
                    "state_dir": str(state_dir), "health_url": ready_url, "ready_timeout_s": 5,
                    "settle_s": 0, "log_dir": str(root.parent / "gwlogs"),
                    "process_name": "no-such-gateway-xyz"},
        "sessions": {"board_path": "memory/mc-board.json"},
        "retry_storm": {"events_path": "logs/events.jsonl", "sources": ["cron", "events"]},
        "restart": {"sidecar_lock_wait_s": 0.2},
        "notify": {"restart_notice_delay_s": 0, "order": ["mc_output"]},
    }
