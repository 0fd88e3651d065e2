"""One read of a gateway state root, whichever storage era each part is in.

The era is detected per agent: `agents/<id>/agent/openclaw-agent.sqlite`
(2026.8+) wins over `agents/<id>/sessions/sessions.json` (file era), because an
upgraded installation may keep the old file beside the new database. The task
ledger, subagent runs, heartbeat jobs, boots and the owner lease come from
`state/openclaw.sqlite` when it exists (2026.7.1 already has it) and from the
older files (`tasks/runs.sqlite`, `subagents/runs.json`, `cron/jobs.json`)
when they exist; both are merged, the database winning on the same id.

The ledger is read first so the session readers know which keys a task names
(the `wanted` set): a store of 100k sessions is then reduced to counts plus the
few records a decision can use.
"""

from __future__ import annotations

from pathlib import Path

from ctoops.probes.openclaw import filestore, sqlitestore
from ctoops.probes.openclaw.liveness import pid_status
from ctoops.probes.openclaw.model import (
    AgentSessions,
    OpenClawSnapshot,
    Problem,
    StateDbView,
)

STATE_DB = Path("state") / "openclaw.sqlite"
AGENT_DB = Path("agent") / "openclaw-agent.sqlite"
SESSIONS_JSON = Path("sessions") / "sessions.json"


def _merge(primary: StateDbView, other: StateDbView) -> StateDbView:
    tasks = {t.task_id: t for t in other.tasks} | {t.task_id: t for t in primary.tasks}
    subs = {s.run_id: s for s in other.subagents} | {s.run_id: s for s in primary.subagents}
    beats = {h.agent_id: h for h in other.heartbeats} | {h.agent_id: h for h in primary.heartbeats}
    return StateDbView(tuple(tasks.values()), tuple(subs.values()), tuple(beats.values()),
                       primary.cron_runs + other.cron_runs, primary.boots or other.boots,
                       primary.lease or other.lease, primary.schema_version,
                       primary.problems + other.problems)


def read_ledger(state_dir: Path, wanted_tasks: frozenset[str] = frozenset()) -> StateDbView:
    """Tasks, subagents, heartbeat jobs, cron runs, boots and the lease, both eras."""
    view = StateDbView()
    db = state_dir / STATE_DB
    if db.exists():
        view = sqlitestore.read_state_db(db, wanted_tasks)
    legacy_tasks = state_dir / "tasks" / "runs.sqlite"
    if legacy_tasks.exists():
        view = _merge(view, sqlitestore.read_tasks_db(legacy_tasks, wanted_tasks))
    subagents, problems = filestore.read_subagent_runs(state_dir / "subagents" / "runs.json")
    beats, more = filestore.read_cron_jobs_json(state_dir / "cron" / "jobs.json")
    runs, runs_problems = filestore.read_cron_run_logs(state_dir / "cron" / "runs")
    files = StateDbView(subagents=subagents, heartbeats=beats, cron_runs=runs,
                        problems=problems + more + runs_problems)
    return _merge(view, files)


def agent_stores(state_dir: Path) -> list[tuple[str, str, Path, tuple[Problem, ...]]]:
    """(agent id, era, store path, notes) for every agent folder with a store."""
    out = []
    try:
        folders = sorted(p for p in (state_dir / "agents").iterdir() if p.is_dir())
    except FileNotFoundError:
        return []
    except OSError as exc:
        return [("?", "file", state_dir / "agents",
                 (Problem(str(state_dir / "agents"), "unreadable", f"cannot list: {exc}"),))]
    for folder in folders:
        db, js = folder / AGENT_DB, folder / SESSIONS_JSON
        if db.exists():
            notes: tuple[Problem, ...] = ()
            if js.exists():
                notes = (Problem(str(js), "both_eras",
                                 "a file-era sessions.json sits beside the agent database; "
                                 "the database is authoritative (2026.8+) and was read", "none"),)
            out.append((folder.name, "sqlite", db, notes))
        elif js.exists():
            out.append((folder.name, "file", js, ()))
    return out


def read_agents(state_dir: Path, wanted: frozenset[str]) -> tuple[AgentSessions, ...]:
    out = []
    for agent_id, era, path, notes in agent_stores(state_dir):
        if agent_id == "?":
            out.append(AgentSessions("?", era, str(path), False, problems=notes))
            continue
        read = (sqlitestore.read_agent_db(path, agent_id, wanted) if era == "sqlite"
                else filestore.read_sessions_json(path, agent_id, wanted))
        if notes:
            read = AgentSessions(**{**read.__dict__, "problems": read.problems + notes})
        out.append(read)
    return tuple(out)


def owner_pids(ledger: StateDbView) -> dict[int, str]:
    """live/dead/unknown for every owner pid the ledger names."""
    status: dict[int, str] = {}
    lease = ledger.lease
    if lease is not None and lease.pid is not None:
        status[lease.pid] = pid_status(lease.pid, lease.started_ticks, lease.host)
    pids = {b.pid for b in ledger.boots} | {t.owner_pid for t in ledger.tasks if t.owner_pid} \
        | {r.owner_pid for r in ledger.cron_runs if r.owner_pid}
    for pid in sorted(p for p in pids if p is not None and p not in status):
        status[pid] = pid_status(pid)
    return status


def read_snapshot(state_dir: Path, board_keys: frozenset[str] = frozenset(),
                  board_task_ids: frozenset[str] = frozenset()) -> OpenClawSnapshot:
    """Everything `check sessions` judges, read-only, never raising for bad input."""
    if not state_dir.is_dir():
        return OpenClawSnapshot(str(state_dir), False, (), StateDbView(), {}, problems=(
            Problem(str(state_dir), "missing_state_dir",
                    "no OpenClaw state folder here (gateway.state_dir); nothing to judge", "low"),))
    ledger = read_ledger(state_dir, board_task_ids)
    wanted = set(board_keys)
    wanted.update(t.child_session_key for t in ledger.tasks
                  if t.child_session_key and t.status in ("running", "queued"))
    wanted.update(s.child_session_key for s in ledger.subagents if s.status == "running")
    agents = read_agents(state_dir, frozenset(wanted))
    return OpenClawSnapshot(str(state_dir), True, agents, ledger, owner_pids(ledger))
