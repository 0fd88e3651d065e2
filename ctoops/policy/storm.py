"""Retry-storm detection and the chain freeze's circuit breaker (R4, R20, R21), pure.

`decide(events, jobs, memory, freezes, approvals, cfg, now)` counts each error
fingerprint in a sliding window kept in `memory` (timestamps pruned to the window,
a cap on how many fingerprints are remembered), and says, per scope, what the
freeze should do:

- closed (no freeze): a storm -> freeze for `freeze_s` (scope `global` for a
  fingerprint storm, `job:<id>` for a cron job at `job_consecutive_errors`);
- open (frozen, `until` ahead): nothing is resolved, whatever the counts say;
- half-open (the freeze's `until` has passed; chains may run again): the first run
  after it judges: the storm goes on -> freeze again for twice as long (capped at
  `freeze_max_s`); quiet -> close (freeze removed, review closed, "resolved").

A persistent storm never stacks freezes: one record per scope. A freeze held for
a person (kill-switch) is not asked for again while it waits; one that was denied
is not asked for again until that scope has been quiet. A cron job counts as
storming only on errors it has not already been frozen for (`handled`), so a job
that stays at 5 errors because it no longer runs does not freeze again and again.
No I/O, no clock: `now` comes in.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Any

from ctoops.audit import iso
from ctoops.policy.fingerprint import fingerprint
from ctoops.policy.flags import active
from ctoops.redaction import scrub

if TYPE_CHECKING:
    from ctoops.config import RetryStormConfig
    from ctoops.probes.errorevent import ErrorEvent
    from ctoops.probes.openclaw.cron import CronJobState

SET_BY = "retry-storm"
GLOBAL = "global"
MAX_TIMESTAMPS = 200  # per fingerprint (the state is rewritten every run): counts cap here
MAX_SAMPLE_CHARS = 500
TOP_N = 5


@dataclass(frozen=True)
class FingerprintView:
    key: str
    template: str
    count: int  # events in the window (now - window_s, now]
    sample: str  # one raw message, secrets scrubbed
    source: str
    last_ts: float
    total: int  # seen since first remembered


@dataclass(frozen=True)
class JobView:
    job_id: str
    name: str
    consecutive_errors: int
    last_error: str | None
    last_status: str | None
    handled: bool  # these errors were already frozen for: no storm unless more come


@dataclass(frozen=True)
class FreezeWant:
    """A freeze the decision asks for; the guardrails may hold it (R25)."""

    scope: str
    kind: str  # freeze | refreeze
    level: int  # 1 for the first freeze, +1 per re-freeze
    duration_s: float
    reason: str
    trigger: str  # fingerprint | job
    key: str | None
    template: str | None
    sample: str
    count: int
    job: str | None
    errors: int | None
    storm_since: float | None  # when the first freeze of this storm began
    alerted_ts: float | None  # when the alert was last sent (re-freeze: reminder pacing)

    def as_args(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Close:
    scope: str
    record: dict[str, Any]
    reason: str


@dataclass(frozen=True)
class Held:
    scope: str
    approval_id: str
    status: str  # pending | denied


@dataclass(frozen=True)
class StormDecision:
    memory: dict[str, Any]  # the command's new memory (fingerprints, jobs, held)
    wants: tuple[FreezeWant, ...]
    closes: tuple[Close, ...]
    frozen: tuple[tuple[str, dict[str, Any]], ...]  # freezes still open
    waiting: tuple[str, ...]  # half-open scopes that could not be judged this run
    held: tuple[Held, ...]
    covered: tuple[str, ...]  # job storms inside an open global freeze
    top: tuple[FingerprintView, ...]
    jobs: tuple[JobView, ...]
    storm_keys: tuple[str, ...]  # fingerprints at the threshold now
    level: str  # quiet | elevated | storm
    new_events: int
    stale_events: int  # read, but older than the window: cannot make a storm


def half(threshold: int) -> int:
    """The elevated level: half the threshold, at least 1."""
    return max(1, math.ceil(threshold / 2))


def freeze_duration(cfg: RetryStormConfig, level: int) -> float:
    """freeze_s, doubled per re-freeze, capped at freeze_max_s."""
    return float(min(cfg.freeze_s * (2 ** max(0, level - 1)), cfg.freeze_max_s))


def update_windows(fps: dict[str, Any], events: list[ErrorEvent], cfg: RetryStormConfig,
                   now: float) -> tuple[dict[str, Any], int]:
    """Add events to their fingerprints' windows, prune, cap. Returns (windows,
    stale events). An event stamped in the future counts as now."""
    out: dict[str, Any] = {}
    for key, rec in fps.items():
        if isinstance(rec, dict) and isinstance(rec.get("ts"), list):
            out[key] = {**rec, "ts": [float(t) for t in rec["ts"] if isinstance(t, (int, float))]}
    horizon = now - cfg.window_s
    stale = 0
    for event in events:
        ts = min(event.ts, now)
        if ts <= horizon:
            stale += 1
            continue
        key, template = fingerprint(event.origin, event.message, event.fingerprint)
        rec = out.setdefault(key, {"template": template, "ts": [], "total": 0,
                                   "source": event.source, "first_ts": ts})
        rec["ts"].append(round(ts, 3))
        rec["total"] = int(rec.get("total", 0)) + 1
        rec["sample"] = scrub(event.message)[:MAX_SAMPLE_CHARS]
        rec["source"] = event.source
        rec["last_ts"] = max(float(rec.get("last_ts", ts)), ts)
    for key in list(out):
        kept = sorted(t for t in out[key]["ts"] if horizon < t <= now)[-MAX_TIMESTAMPS:]
        if kept:
            out[key]["ts"] = kept
        else:
            del out[key]
    if len(out) > cfg.max_fingerprints:
        ranked = sorted(out, key=lambda k: (len(out[k]["ts"]), out[k].get("last_ts", 0.0)),
                        reverse=True)
        out = {k: out[k] for k in ranked[:cfg.max_fingerprints]}
    return out, stale


def _view(key: str, rec: dict[str, Any]) -> FingerprintView:
    return FingerprintView(key, str(rec.get("template", "")), len(rec["ts"]),
                           str(rec.get("sample", "")), str(rec.get("source", "")),
                           float(rec.get("last_ts", 0.0)), int(rec.get("total", 0)))


def decide(events: list[ErrorEvent], jobs: tuple[CronJobState, ...] | None,
           memory: dict[str, Any], freezes: dict[str, Any], approvals: dict[str, Any],
           cfg: RetryStormConfig, now: float) -> StormDecision:
    fps, stale = update_windows(_mapping(memory.get("fingerprints")), events, cfg, now)
    views = sorted((_view(k, r) for k, r in fps.items()),
                   key=lambda v: (v.count, v.last_ts), reverse=True)
    storm_views = [v for v in views if v.count >= cfg.threshold]

    old_jobs = _mapping(memory.get("jobs"))
    job_mem: dict[str, Any] = dict(old_jobs)
    storming_jobs: dict[str, CronJobState] = {}
    job_views: list[JobView] = []
    if jobs is not None:
        job_mem = {}
        for job in jobs:
            prev = old_jobs.get(job.job_id) if isinstance(old_jobs.get(job.job_id), dict) else {}
            handled = prev.get("handled")
            n = job.consecutive_errors
            if n < cfg.job_consecutive_errors:
                handled = None  # the streak ended: the next one is a new storm
            elif n != handled:
                storming_jobs[job.job_id] = job
            if n > 0 or handled is not None:
                job_mem[job.job_id] = {"errors": n, "handled": handled, "name": job.name}
            if n > 0:
                job_views.append(JobView(job.job_id, job.name, n, job.last_error,
                                         job.last_status, n == handled))
        job_views.sort(key=lambda j: j.consecutive_errors, reverse=True)

    held_mem = {k: v for k, v in _mapping(memory.get("held")).items() if isinstance(v, dict)}
    ours = {s: r for s, r in freezes.items() if isinstance(r, dict) and r.get("set_by") == SET_BY}
    scopes = [GLOBAL, *sorted(({f"job:{j}" for j in storming_jobs} | set(ours) | set(held_mem))
                              - {GLOBAL})]
    wants: list[FreezeWant] = []
    closes: list[Close] = []
    frozen: list[tuple[str, dict[str, Any]]] = []
    waiting: list[str] = []
    held: list[Held] = []
    covered: list[str] = []
    global_open = active(ours.get(GLOBAL), now)

    for scope in scopes:
        rec = ours.get(scope)
        job_id = scope[4:] if scope.startswith("job:") else None
        if rec is not None and active(rec, now):
            frozen.append((scope, rec))  # open: nothing is resolved while it lasts
            continue
        if rec is None and active(freezes.get(scope), now):
            covered.append(scope)  # someone else's freeze holds this scope: not replaced
            continue
        if job_id is not None and jobs is None:
            if rec is not None:
                waiting.append(scope)  # half-open, but no cron data to judge it by
            continue
        storming = bool(storm_views) if job_id is None else job_id in storming_jobs
        marker = held_mem.get(scope)
        if marker is not None:
            status = (approvals.get(str(marker.get("approval_id"))) or {}).get("status")
            if status == "pending" or (status == "denied" and storming):
                held.append(Held(scope, str(marker.get("approval_id")), str(status)))
                continue
            del held_mem[scope]
        if not storming:
            if rec is not None:
                closes.append(Close(scope, rec, _quiet_reason(scope, rec, cfg)))
            continue
        if job_id is not None and (global_open or any(w.scope == GLOBAL for w in wants)):
            covered.append(scope)  # the global freeze already stops this job's chains
            continue
        level = int(rec.get("level", 1)) + 1 if rec is not None else 1
        duration = freeze_duration(cfg, level)
        if job_id is None:
            top = storm_views[0]
            why = (f"{top.count} x '{top.template}' in the last {cfg.window_s:g} s "
                   f"(threshold {cfg.threshold})")
            want = FreezeWant(scope, "refreeze" if rec else "freeze", level, duration, "",
                              "fingerprint", top.key, top.template, top.sample, top.count,
                              None, None, None, None)
        else:
            job = storming_jobs[job_id]
            why = (f"cron job {job.name} ({job_id}) failed {job.consecutive_errors} times in a "
                   f"row (threshold {cfg.job_consecutive_errors})")
            job_mem[job_id] = {**job_mem.get(job_id, {}), "handled": job.consecutive_errors}
            want = FreezeWant(scope, "refreeze" if rec else "freeze", level, duration, "", "job",
                              None, None, scrub(job.last_error or "")[:MAX_SAMPLE_CHARS],
                              job.consecutive_errors, job_id, job.consecutive_errors, None, None)
        if rec is None:
            wants.append(replace(want, reason=(
                f"retry storm: {why}; chained execution frozen for {duration:g} s (R20)")))
        else:
            wants.append(replace(
                want, reason=(f"retry storm goes on after a {float(rec.get('duration_s', 0)):g} s "
                              f"freeze: {why}; frozen again for {duration:g} s (level {level})"),
                storm_since=float(rec.get("storm_since", rec.get("since", now))),
                alerted_ts=rec.get("alerted_ts")))

    elevated = (any(v.count >= half(cfg.threshold) for v in views)
                or any(j.consecutive_errors >= half(cfg.job_consecutive_errors) for j in job_views))
    stormy = bool(wants or frozen or held or covered or storm_views or storming_jobs)
    new_memory = {"fingerprints": fps, "jobs": job_mem, "held": held_mem}
    return StormDecision(new_memory, tuple(wants), tuple(closes), tuple(frozen), tuple(waiting),
                         tuple(held), tuple(covered), tuple(views[:TOP_N]), tuple(job_views),
                         tuple(v.key for v in storm_views),
                         "storm" if stormy else "elevated" if elevated else "quiet",
                         len(events), stale)


def _mapping(value: Any) -> dict[str, Any]:
    """A remembered mapping, or an empty one when the state holds something else
    (hand-edited or from a future version): the window then starts afresh."""
    return value if isinstance(value, dict) else {}


def _quiet_reason(scope: str, rec: dict[str, Any], cfg: RetryStormConfig) -> str:
    since = float(rec.get("storm_since", rec.get("since", 0.0)))
    if scope == GLOBAL:
        what = f"no error fingerprint at {cfg.threshold} in the last {cfg.window_s:g} s"
    else:
        what = "no new errors from the job since it was frozen"
    return (f"retry storm over ({scope}): {what}; the freeze ended and the half-open run "
            f"found it quiet (storm began {iso(since)}, level {rec.get('level', 1)})")
