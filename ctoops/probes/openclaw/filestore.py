"""Read the legacy file-era state (OpenClaw releases up to about 2026.7), read-only.

- `agents/<agentId>/sessions/sessions.json`: one JSON object, session key -> entry.
  Streamed member by member (jsonstream), because real stores reach 100+ MB and
  their entries tens of KB (skillsSnapshot, systemPromptReport). Per entry only
  sessionId, status, updatedAt, spawnedBy (and on the main entry
  lastHeartbeatSentAt) are kept, and only for the entries a decision can use:
  running ones, the ones a task names, and a small sample of the dead.
- `subagents/runs.json` `{version, runs: {runId: {childSessionKey, startedAt,
  endedAt?, outcome?}}}`, `cron/jobs.json` (the heartbeat job, when a release
  keeps one there), `cron/runs/<jobId>.jsonl` (one `finished` line per run; only
  each file's tail is read).

A store that does not parse is reported and its records are not used at all: the
gateway reads a corrupt store as empty, so half a store must not drive decisions.
Nothing here writes, renames or locks the gateway's files.
"""

from __future__ import annotations

import heapq
import json
import math
import os
from pathlib import Path
from typing import Any

from ctoops.probes.openclaw.jsonstream import StreamError, iter_object_items
from ctoops.probes.openclaw.keys import parse_key
from ctoops.probes.openclaw.model import (
    DEAD_STATUSES,
    AgentSessions,
    CronRunRecord,
    HeartbeatRecord,
    Problem,
    SessionRecord,
    SubagentRun,
)

DEAD_SAMPLE = 20  # dead sessions kept per agent for the listing (all are counted)
RUNNING_CAP = 5000  # running sessions kept per agent; more are counted, not kept
RUN_LOG_TAIL_BYTES = 256 << 10
RUN_LOG_MAX_FILES = 2000
SMALL_FILE_MAX_BYTES = 32 << 20


def _int(value: Any) -> int | None:
    """Epoch ms as the gateway writes them; anything else (bool, text) is None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if abs(value) < 2**53 else None  # no time or count is that large
    if isinstance(value, float) and math.isfinite(value):
        return int(value)
    return None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def read_sessions_json(path: Path, agent_id: str, wanted: frozenset[str] = frozenset(),
                       dead_sample: int = DEAD_SAMPLE) -> AgentSessions:
    """Stream one agent's sessions.json; never raises for bad input."""
    source = str(path)
    total = skipped = running_kept = 0
    by_status: dict[str, int] = {}
    kept: list[SessionRecord] = []
    dead_heap: list[tuple[int, int, SessionRecord]] = []  # (updated, seq, record): newest kept
    heartbeat: int | None = None
    main_key = f"agent:{agent_id}:main"
    try:
        size = path.stat().st_size
        with path.open("rb") as fh:
            for seq, (key, entry) in enumerate(iter_object_items(fh)):
                total += 1
                if not isinstance(entry, dict):
                    skipped += 1
                    by_status["malformed"] = by_status.get("malformed", 0) + 1
                    continue
                status = _str(entry.get("status"))
                by_status[status or "unknown"] = by_status.get(status or "unknown", 0) + 1
                rec = SessionRecord(key, agent_id, _str(entry.get("sessionId")), status,
                                    _int(entry.get("updatedAt")), _str(entry.get("spawnedBy")))
                if key == main_key:
                    heartbeat = _int(entry.get("lastHeartbeatSentAt"))
                if key in wanted:
                    kept.append(rec)
                elif status == "running":
                    if running_kept < RUNNING_CAP:
                        kept.append(rec)
                    running_kept += 1
                elif status in DEAD_STATUSES:
                    item = (rec.updated_at_ms or 0, seq, rec)
                    if len(dead_heap) < dead_sample:
                        heapq.heappush(dead_heap, item)
                    else:
                        heapq.heappushpop(dead_heap, item)
    except FileNotFoundError:
        return AgentSessions(agent_id, "file", source, False, problems=(
            Problem(source, "missing_file", "sessions.json vanished while being read", "low"),))
    except OSError as exc:
        return AgentSessions(agent_id, "file", source, False, problems=(
            Problem(source, "unreadable", f"cannot read: {exc.strerror or exc}"),))
    except StreamError as exc:
        return AgentSessions(agent_id, "file", source, False, total=total, problems=(
            Problem(source, "malformed",
                    f"not a well-formed session store after {total} entries: {exc}. The "
                    "gateway reads such a store as empty and overwrites it on its next write; "
                    "none of it was used", "high"),))
    problems: list[Problem] = []
    if skipped:
        problems.append(Problem(source, "malformed_entries",
                                f"{skipped} of {total} entries are not JSON objects; ignored", "low"))
    if running_kept > RUNNING_CAP:
        problems.append(Problem(source, "too_many_running",
                                f"{running_kept} sessions claim running; the first {RUNNING_CAP} "
                                "were judged", "low"))
    records = tuple(kept) + tuple(r for _, _, r in sorted(dead_heap, reverse=True))
    return AgentSessions(agent_id, "file", source, True, total, by_status, records, heartbeat,
                         bytes_read=size, skipped_entries=skipped, problems=tuple(problems))


def _load_small_json(path: Path) -> tuple[Any, Problem | None]:
    """A file the gateway keeps small (runs.json, jobs.json): parsed whole, with a cap."""
    source = str(path)
    try:
        size = path.stat().st_size
        if size > SMALL_FILE_MAX_BYTES:
            return None, Problem(source, "too_large",
                                 f"{size} bytes is more than the {SMALL_FILE_MAX_BYTES} read; "
                                 "skipped", "low")
        return json.loads(path.read_bytes().decode("utf-8")), None
    except FileNotFoundError:
        return None, None
    except OSError as exc:
        return None, Problem(source, "unreadable", f"cannot read: {exc.strerror or exc}")
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        return None, Problem(source, "malformed", f"not valid UTF-8 JSON: {exc}")


def read_subagent_runs(path: Path) -> tuple[tuple[SubagentRun, ...], tuple[Problem, ...]]:
    data, problem = _load_small_json(path)
    if problem or data is None:
        return (), (problem,) if problem else ()
    runs = data.get("runs") if isinstance(data, dict) else None
    if not isinstance(runs, dict):
        return (), (Problem(str(path), "malformed", "expected {version, runs: {...}}", "low"),)
    out: list[SubagentRun] = []
    malformed = 0
    for run_id, run in runs.items():
        if not isinstance(run, dict) or not _str(run.get("childSessionKey")):
            malformed += 1
            continue
        ended = _int(run.get("endedAt"))
        outcome = run.get("outcome")
        status = "running" if ended is None else (
            _str(outcome.get("status")) if isinstance(outcome, dict) else None) or "done"
        out.append(SubagentRun(str(run_id), run["childSessionKey"],
                               _str(run.get("requesterSessionKey")), status,
                               _int(run.get("startedAt")), ended))
    if malformed:
        return tuple(out), (Problem(str(path), "malformed_entries",
                                    f"{malformed} of {len(runs)} runs name no child session; "
                                    "ignored", "low"),)
    return tuple(out), ()


def read_cron_jobs_json(path: Path) -> tuple[tuple[HeartbeatRecord, ...], tuple[Problem, ...]]:
    """Only the heartbeat jobs (payload.kind heartbeat): cron error state belongs to
    the retry-storm check."""
    data, problem = _load_small_json(path)
    if problem or data is None:
        return (), (problem,) if problem else ()
    jobs = data.get("jobs") if isinstance(data, dict) else None
    if not isinstance(jobs, list):
        return (), (Problem(str(path), "malformed", "expected {version, jobs: [...]}", "low"),)
    out = []
    for job in jobs:
        if not isinstance(job, dict):
            continue
        payload = job.get("payload") if isinstance(job.get("payload"), dict) else {}
        if payload.get("kind") != "heartbeat":
            continue
        out.append(heartbeat_from_job(job, job.get("state"), _str(job.get("agentId"))))
    return tuple(out), ()


def heartbeat_from_job(job: dict[str, Any], state: Any, agent_id: str | None) -> HeartbeatRecord:
    """Shared by both eras: a heartbeat cron job's definition and state."""
    state = state if isinstance(state, dict) else {}
    schedule = job.get("schedule") if isinstance(job.get("schedule"), dict) else {}
    enabled = job.get("enabled")
    return HeartbeatRecord(agent_id or _str(job.get("agentId")) or "?",
                           _int(state.get("lastRunAtMs")), _int(schedule.get("everyMs")),
                           enabled is not False, "cron_job", _int(job.get("createdAtMs")))


def _tail_lines(path: Path, max_bytes: int) -> list[bytes]:
    with path.open("rb") as fh:
        fh.seek(0, os.SEEK_END)
        size = fh.tell()
        start = max(0, size - max_bytes)
        fh.seek(start)
        data = fh.read()
    lines = data.split(b"\n")
    return lines[1:] if start > 0 else lines  # the first piece of a tail may be cut


def read_cron_run_logs(runs_dir: Path) -> tuple[tuple[CronRunRecord, ...], tuple[Problem, ...]]:
    """`finished` lines from the tail of each run log (jobId, status, sessionId, ...)."""
    out: list[CronRunRecord] = []
    problems: list[Problem] = []
    try:
        files = sorted(p for p in runs_dir.glob("*.jsonl") if p.is_file() and not p.is_symlink())
    except OSError as exc:
        return (), (Problem(str(runs_dir), "unreadable", f"cannot list: {exc}", "low"),)
    if len(files) > RUN_LOG_MAX_FILES:
        problems.append(Problem(str(runs_dir), "too_many",
                                f"{len(files)} run logs; read the newest {RUN_LOG_MAX_FILES}", "low"))
        files = sorted(files, key=lambda p: p.stat().st_mtime)[-RUN_LOG_MAX_FILES:]
    bad = 0
    for path in files:
        try:
            lines = _tail_lines(path, RUN_LOG_TAIL_BYTES)
        except OSError:
            bad += 1
            continue
        for raw in lines:
            if not raw.strip():
                continue
            try:
                line = json.loads(raw)
            except (ValueError, UnicodeDecodeError, RecursionError):
                bad += 1
                continue
            if not isinstance(line, dict) or line.get("action") != "finished":
                continue
            session_key = _str(line.get("sessionKey"))
            agent = parse_key(session_key).agent_id if session_key else None
            run_at = _int(line.get("runAtMs"))
            duration = _int(line.get("durationMs"))
            finished = _int(line.get("ts")) or (run_at + duration if run_at and duration else run_at)
            out.append(CronRunRecord(_str(line.get("jobId")) or path.stem, agent or None,
                                     _str(line.get("sessionId")), session_key,
                                     _str(line.get("status")) or "unknown", run_at, finished,
                                     None, _str(line.get("error"))))
    if bad:
        problems.append(Problem(str(runs_dir), "malformed_lines",
                                f"{bad} run-log lines or files could not be read; ignored", "low"))
    return tuple(out), tuple(problems)
