"""The values the OpenClaw readers return, the same for both storage eras.

The file-era reader (`filestore`) and the SQLite-era reader (`sqlitestore`)
project what they read onto these frozen dataclasses, so the decision code never
knows which era a record came from. Only the fields a decision needs are kept:
real session entries are tens of KB each and stores reach 100+ MB, so a reader
that kept whole entries would hold the store twice.

All gateway times are epoch milliseconds (`*_ms`), as the gateway writes them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

DEAD_STATUSES = ("failed", "killed", "timeout")


@dataclass(frozen=True)
class Problem:
    """Something a reader could not read or could not trust, in words."""

    source: str  # a path, or "<path>:<table>"
    kind: str  # missing_file, unreadable, malformed, unknown_schema, too_large, ...
    message: str
    risk: str = "medium"  # how much it limits what ctoops can judge


@dataclass(frozen=True)
class SessionRecord:
    key: str
    agent_id: str
    session_id: str | None
    status: str | None  # running | done | failed | killed | timeout | None (not said)
    updated_at_ms: int | None
    spawned_by: str | None = None


@dataclass(frozen=True)
class AgentSessions:
    """One agent's session store as read: counts for all, records for the few
    that matter (running, referenced by a task, and a sample of the dead)."""

    agent_id: str
    era: str  # file | sqlite
    source: str
    readable: bool
    total: int = 0
    by_status: dict[str, int] = field(default_factory=dict)
    records: tuple[SessionRecord, ...] = ()
    main_heartbeat_ms: int | None = None  # file era: main entry's lastHeartbeatSentAt
    schema_version: int | None = None
    bytes_read: int = 0
    skipped_entries: int = 0  # entries of the wrong shape (counted, not used)
    problems: tuple[Problem, ...] = ()


@dataclass(frozen=True)
class TaskRun:
    """A task in OpenClaw's own ledger (task_runs)."""

    task_id: str
    status: str  # queued | running | succeeded | failed | timed_out | cancelled | lost
    child_session_key: str | None
    agent_id: str | None
    label: str | None
    started_at_ms: int | None
    last_event_at_ms: int | None
    error: str | None
    owner_pid: int | None = None  # execution_owner_pid (2026.9+)
    owner_start: int | None = None  # execution_owner_start_identity


@dataclass(frozen=True)
class SubagentRun:
    run_id: str
    child_session_key: str
    requester_session_key: str | None
    status: str | None  # running | done | failed | ... (None: not said)
    started_at_ms: int | None
    ended_at_ms: int | None


@dataclass(frozen=True)
class HeartbeatRecord:
    agent_id: str
    last_ms: int | None
    interval_ms: int | None  # the job's own schedule when it says; else config
    enabled: bool
    source: str  # main_entry | cron_job
    created_ms: int | None = None


@dataclass(frozen=True)
class BootRecord:
    boot_id: str
    pid: int
    started_at_ms: int
    completed_at_ms: int | None
    outcome: str | None
    reason: str | None = None


@dataclass(frozen=True)
class LeaseRecord:
    """The gateway owner lease (state_leases scope `gateway-owner`)."""

    owner: str
    pid: int | None
    host: str | None
    started_ticks: int | None  # /proc/<pid>/stat starttime, as the gateway records it
    expires_at_ms: int | None
    heartbeat_at_ms: int | None
    port: int | None = None


@dataclass(frozen=True)
class CronRunRecord:
    """A cron run: a `finished` run-log line (file era) or a receipt (SQLite era)."""

    job_id: str
    agent_id: str | None
    run_id: str | None  # the run's sessionId (file era) / request_run_id
    session_key: str | None
    status: str  # running | ok | error | skipped | interrupted | superseded
    started_at_ms: int | None
    finished_at_ms: int | None
    owner_pid: int | None = None
    error: str | None = None


@dataclass(frozen=True)
class StateDbView:
    """What the shared state database (or the file-era files) said, beyond sessions."""

    tasks: tuple[TaskRun, ...] = ()
    subagents: tuple[SubagentRun, ...] = ()
    heartbeats: tuple[HeartbeatRecord, ...] = ()
    cron_runs: tuple[CronRunRecord, ...] = ()
    boots: tuple[BootRecord, ...] = ()
    lease: LeaseRecord | None = None
    schema_version: int | None = None
    problems: tuple[Problem, ...] = ()


@dataclass(frozen=True)
class OpenClawSnapshot:
    """The whole gateway state root as one run saw it."""

    state_dir: str
    exists: bool
    agents: tuple[AgentSessions, ...]
    ledger: StateDbView
    pid_status: dict[int, str]  # pid -> live | dead | unknown, for the owners named
    gateway_pid: int | None = None  # the running gateway process, when found
    gateway_started_ms: int | None = None
    problems: tuple[Problem, ...] = ()
