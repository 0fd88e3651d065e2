"""Is the gateway a zombie? (P4, R22-R24), as pure functions of what was sensed.

A zombie is a gateway that is still there (its process alive, or its unit active)
but does not do its job: its HTTP probes time out, or it stopped renewing its own
liveness lease. One slow answer is not an incident (a GC pause, a busy minute), so
a failing run only makes the gateway `suspect`; `zombie_confirm_samples`
consecutive failing runs (counted in the state) make it a `zombie`. A gateway with
no process at all is `dead` at once, but an incident (alert, trail, escalation)
opens for it, too, only after the same number of runs, so a restart in progress
is not an incident. While a gateway restart is in flight the count stands still.

Verdicts and exit codes: healthy 0; degraded, unready, suspect 1; zombie, dead 2.
The command turns the decision into actions; nothing here does I/O or reads a clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ctoops.config import ZombieConfig
from ctoops.probes.gateway_log import LogFreshness
from ctoops.probes.health import GatewayHealth, HttpProbe
from ctoops.probes.openclaw.owner_lease import OwnerLease
from ctoops.probes.process import GatewayProcess
from ctoops.probes.systemd import UnitStatus
from ctoops.report import Finding

HEALTHY, DEGRADED, UNREADY, SUSPECT, ZOMBIE, DEAD = (
    "healthy", "degraded", "unready", "suspect", "zombie", "dead")
RISK = {HEALTHY: "none", DEGRADED: "medium", UNREADY: "medium", SUSPECT: "medium",
        ZOMBIE: "high", DEAD: "high"}
INCIDENT_STATES = (ZOMBIE, DEAD)
MAX_BUNDLE_ATTEMPTS = 5  # a bundle that keeps failing is reported, not retried forever
CPU_MOVING_S = 0.01  # less CPU than this between two runs counts as "not moving"


@dataclass(frozen=True)
class Observation:
    """One run's senses, as the probes returned them."""

    unit: UnitStatus
    process: GatewayProcess | None
    health: GatewayHealth
    lease: OwnerLease
    log: LogFreshness


@dataclass(frozen=True)
class ZombieDecision:
    state: str
    risk: str
    reasons: tuple[str, ...]
    failing: bool  # this run failed (alive but not answering, or dead)
    counted: bool  # it advanced the consecutive-failure count
    streak: int
    cpu_moving: bool | None  # None: no earlier sample of the same process
    open_incident: bool
    resolve_incident: bool
    collect_bundle: bool  # (re)collect the open incident's trail
    send_alert: bool  # the urgent alert: a new incident, or a reminder
    memory: dict[str, Any]  # the command's memory to store (incident aside)
    findings: list[Finding] = field(default_factory=list)


def _no_answer(probe: HttpProbe) -> str | None:
    if probe.answered:
        return None
    return f"{probe.url} did not answer in {probe.elapsed_s:.1f} s ({probe.error or 'no reply'})"


def _cpu_sample(process: GatewayProcess | None, now: float) -> dict[str, Any] | None:
    if process is None:
        return None
    return {"pid": process.pid, "create_time": process.create_time,
            "cpu_time_s": process.cpu_time_s, "ts": now}


def cpu_moving(previous: dict[str, Any] | None, process: GatewayProcess | None) -> bool | None:
    """Did the same process (pid and start time) use CPU since the last run?"""
    if process is None or not previous:
        return None
    if previous.get("pid") != process.pid or previous.get("create_time") != process.create_time:
        return None
    return process.cpu_time_s - float(previous.get("cpu_time_s", 0.0)) >= CPU_MOVING_S


def _lease_is_ours(lease: OwnerLease, process: GatewayProcess | None) -> bool:
    """An expired lease only counts against the process that owns it; a stale row
    left by an earlier, crashed gateway says nothing about the current one."""
    return lease.status == "ok" and (process is None or lease.pid in (None, process.pid))


def _liveness(obs: Observation) -> tuple[bool, list[str]]:
    """(is the gateway there at all, why not)."""
    unit, process = obs.unit, obs.process
    if unit.failed:
        return False, [f"unit {unit.unit} is failed ({unit.sub_state or 'no sub-state'})"]
    if process is not None and process.status == "zombie":
        return False, [f"gateway process {process.pid} is defunct (Z): it exited and was not reaped"]
    if process is not None:
        return True, []
    if unit.claims_running:
        return True, []
    if unit.known:
        return False, [f"unit {unit.unit} is {unit.active_state} and has no process"]
    return False, ["no gateway process found"]


def classify(obs: Observation, now: float) -> tuple[str, bool, list[str]]:
    """(state before confirmation: healthy/degraded/unready/failing/dead, failing?, why)."""
    alive, why = _liveness(obs)
    if not alive:
        return DEAD, True, why
    health, reasons = obs.health, []
    for probe in (health.live, health.ready):
        missing = _no_answer(probe)
        if missing:
            reasons.append(missing)
    if obs.lease.expired(now) and _lease_is_ours(obs.lease, obs.process):
        age = obs.lease.heartbeat_age_s(now)
        reasons.append("the gateway's liveness lease expired"
                       + (f" (last heartbeat {age:.0f} s ago)" if age is not None else ""))
    process = obs.process
    if reasons:
        if process is not None and process.status in ("stopped", "tracing-stop"):
            reasons.append(f"process {process.pid} is stopped (T): a SIGSTOP or a debugger")
        elif process is not None and process.status == "disk-sleep":
            reasons.append(f"process {process.pid} is in uninterruptible disk sleep (D)")
        return SUSPECT, True, reasons
    body = health.ready.body
    if not health.is_ready:
        failing = body.get("failing") or []
        return UNREADY, False, [f"/readyz answered HTTP {health.ready.status}: ready="
                                f"{body.get('ready')!r}, failing={failing}"]
    if not health.is_live:
        return UNREADY, False, [f"/healthz answered HTTP {health.live.status} "
                                f"{health.live.error or health.live.body}"]
    if health.event_loop_degraded:
        loop = body.get("eventLoop") or {}
        return DEGRADED, False, [f"event loop degraded: delayP99Ms={loop.get('delayP99Ms')}, "
                                 f"reasons={loop.get('reasons') or []}"]
    return HEALTHY, False, ["/healthz live and /readyz ready"]


def decide(obs: Observation, memory: dict[str, Any], cfg: ZombieConfig, now: float,
           restart_in_flight: str | None = None, repeat_interval_s: float = 3600.0
           ) -> ZombieDecision:
    """The verdict for this run and what the command should do about it.

    `memory` is the command's state from earlier runs (streak, last CPU sample, the
    open incident); `restart_in_flight` names a gateway restart intent in flight."""
    raw, failing, reasons = classify(obs, now)
    streak = int(memory.get("streak", 0))
    counted = False
    if failing and restart_in_flight:
        reasons.append(f"a gateway restart is in flight ({restart_in_flight}): not counted")
    elif failing:
        streak, counted = streak + 1, True
    else:
        streak = 0
    confirm = max(1, cfg.zombie_confirm_samples)
    state = ZOMBIE if raw == SUSPECT and streak >= confirm else raw
    if state == SUSPECT:
        reasons.append(f"failing run {streak} of {confirm} before it is called a zombie")
    moving = cpu_moving(memory.get("cpu"), obs.process)
    if failing and moving is not None:
        reasons.append("CPU time is moving (busy, not answering)" if moving
                       else "CPU time is not moving since the last run")
    incident = memory.get("incident")
    confirmed = state in INCIDENT_STATES and streak >= confirm and counted
    open_incident = confirmed and not incident
    resolve = bool(incident) and state == HEALTHY
    collect = bool(incident) and failing and not incident.get("bundle") \
        and int(incident.get("bundle_attempts", 0)) < MAX_BUNDLE_ATTEMPTS
    reminder = bool(incident) and failing and \
        now - float((incident.get("alert") or {}).get("last_sent_ts", now)) >= repeat_interval_s
    new_memory = {"streak": streak, "last_state": state, "last_ts": now,
                  "cpu": _cpu_sample(obs.process, now) or memory.get("cpu")}
    return ZombieDecision(state, RISK[state], tuple(reasons), failing, counted, streak, moving,
                          open_incident, resolve, open_incident or collect,
                          open_incident or reminder, new_memory,
                          findings(obs, state, tuple(reasons), now))


def findings(obs: Observation, state: str, reasons: tuple[str, ...], now: float) -> list[Finding]:
    """The verdict first, then what each sense saw (risk none: context, not alarms)."""
    out = [Finding("gateway", "zombie", RISK[state], f"gateway {state}: " + "; ".join(reasons),
                   {"state": state})]
    unit = obs.unit
    out.append(Finding("gateway", "systemd", "none", (
        f"{unit.unit}: {unit.active_state}/{unit.sub_state}, MainPID {unit.main_pid}, "
        f"{unit.n_restarts} restarts" if unit.known else
        (f"{unit.unit} not known to systemd" if unit.available else unit.error)),
        {"available": unit.available, "active_state": unit.active_state,
         "sub_state": unit.sub_state, "main_pid": unit.main_pid, "n_restarts": unit.n_restarts}))
    p = obs.process
    out.append(Finding("gateway", "process", "none", (
        f"pid {p.pid} ({p.found_by}) {p.status}, {p.num_threads} threads, "
        f"rss {p.rss_bytes} bytes, cpu {p.cpu_time_s:.2f} s" if p else "no process"),
        {"pid": p.pid, "status": p.status, "rss_bytes": p.rss_bytes, "threads": p.num_threads,
         "cpu_time_s": round(p.cpu_time_s, 3), "found_by": p.found_by} if p else {}))
    h = obs.health
    out.append(Finding("gateway", "http", "none",
                       f"/healthz {_probe_text(h.live)}; /readyz {_probe_text(h.ready)}",
                       {"live": h.is_live, "ready": h.is_ready,
                        "degraded": h.event_loop_degraded,
                        "delay_p99_ms": (h.ready.body.get("eventLoop") or {}).get("delayP99Ms")}))
    lease = obs.lease
    age = lease.heartbeat_age_s(now)
    out.append(Finding("gateway", "liveness_lease", "none", (
        f"owner pid {lease.pid}, heartbeat {age:.0f} s ago, "
        f"{'EXPIRED' if lease.expired(now) else 'valid'}" if lease.status == "ok" and age is not None
        else f"{lease.status} {lease.error}".strip()),
        {"status": lease.status, "heartbeat_age_s": None if age is None else round(age, 1),
         "expired": lease.expired(now), "pid": lease.pid}))
    log = obs.log
    log_age = log.age_s(now)
    out.append(Finding("gateway", "log_freshness", "none", (
        f"last line {log_age:.0f} s ago in {log.path}" if log_age is not None else log.error),
        {"path": log.path, "age_s": None if log_age is None else round(log_age, 1)}))
    return out


def _probe_text(probe: HttpProbe) -> str:
    if not probe.answered:
        return f"no answer in {probe.elapsed_s:.1f} s"
    return f"HTTP {probe.status} in {probe.elapsed_s * 1000:.0f} ms"


def new_incident(incident_id: str, decision: ZombieDecision, obs: Observation, now: float,
                 opened_at: str) -> dict[str, Any]:
    """The record an incident starts as (kept in the command's memory)."""
    return {"id": incident_id, "status": "open", "state": decision.state,
            "opened_ts": now, "opened_at": opened_at, "reasons": list(decision.reasons),
            "pid": obs.process.pid if obs.process else None, "bundle": None,
            "bundle_error": None, "bundle_attempts": 0, "alert": None, "escalation": None}


def escalation_for(incident: dict[str, Any], cfg: ZombieConfig) -> str | None:
    """R24: "hold" (a person approves a restart) or "auto_restart", and only once
    the trail is written; None when there is no bundle yet or it was escalated."""
    if not incident or not incident.get("bundle") or incident.get("escalation"):
        return None
    return "auto_restart" if cfg.auto_restart_zombie else "hold"
