"""What the legacy (file-era) gateway recorded about cron runs and subagent runs.

Two read-only sources the dead-run prune needs besides the session stores:
`cron/runs/<jobId>.jsonl` (one `{"action":"finished", ...}` line per finished run)
and `subagents/runs.json` (`{version, runs: {<runId>: {childSessionKey,
requesterSessionKey?, startedAt, endedAt?, ...}}}`; a run without a finite
`endedAt` is still running). Unreadable sources are reported, not guessed: the
policy then protects whatever it cannot judge.
"""

from __future__ import annotations

import json
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path

_SAFE_JOB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]*$")
MAX_RUN_LOG_BYTES = 64 * 1024 * 1024


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
            except ValueError:
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
    return FinishedRuns(out, tuple(problems))


def read_subagent_runs(state_dir: Path) -> SubagentRuns:
    path = state_dir / "subagents" / "runs.json"
    if not path.exists() and not path.is_symlink():
        return SubagentRuns(frozenset(), (), True)
    try:
        if not _regular_file(path):
            raise ValueError("not a regular file")
        data = json.loads(path.read_bytes())
        runs = data.get("runs") if isinstance(data, dict) else None
        if not isinstance(runs, dict):
            raise ValueError("no 'runs' object")
    except (OSError, ValueError) as exc:
        return SubagentRuns(frozenset(), (), False, f"{path}: {exc}")
    running: set[str] = set()
    edges: list[tuple[str, str]] = []
    for run in runs.values():
        if not isinstance(run, dict):
            continue
        child = run.get("childSessionKey")
        if not isinstance(child, str) or not child.strip():
            continue
        child = child.strip()
        for parent_field in ("requesterSessionKey", "controllerSessionKey"):
            parent = run.get(parent_field)
            if isinstance(parent, str) and parent.strip():
                edges.append((parent.strip(), child))
        ended = run.get("endedAt")
        if not (isinstance(ended, (int, float)) and not isinstance(ended, bool)
                and ended == ended and abs(ended) != float("inf")):
            running.add(child)
    return SubagentRuns(frozenset(running), tuple(edges), True)
