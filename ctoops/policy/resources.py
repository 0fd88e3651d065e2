"""What `check resources` concludes from its samples: levels, P1 and P1b (R8-R12).

Pure: (samples, state, config, now) -> Decision. No files, no clock, no psutil;
the command does the reading before and the writing after.

Each host metric goes through the hysteresis in policy/hysteresis.py, so a check
that runs every minute never flaps: a level is entered after `enter_samples`
consecutive samples at or above it and left after `exit_samples` below `clear`
(or below `medium`, from high to medium). The counters live in
state["commands"]["check resources"]; how the readings are shown is in
policy/resources_view.py.

P1 (R8-R11) is the worse of the CPU and memory levels: medium or high sets the
`resource_pressure` flag (which blocks spawns), notifies and opens a review;
none clears them. P1b (R12) asks for a safe restart once the gateway cgroup has
been above `gateway_memory_high_ratio` of its high watermark for
`gateway_confirm_samples` consecutive runs (at most 3, so it fires by the third).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ctoops.config import ResourcesConfig, Threshold
from ctoops.policy.hysteresis import LevelState, step_level
from ctoops.policy.resources_view import gpu_view, pct, pressure_view, size, summary
from ctoops.probes.host import cpu_percent_between, io_rates_between
from ctoops.report import Finding, worst_risk

if TYPE_CHECKING:  # types only: importing the probes' modules would pull in psutil
    from ctoops.probes.cgroup import CgroupMemory
    from ctoops.probes.gpu import GpuSample
    from ctoops.probes.host import HostSample
    from ctoops.probes.pressure import Pressure
    from ctoops.probes.process import GatewayProcess

FLAG = "resource_pressure"
REVIEW_KEY = "resources:resource_pressure"
RESTART_ACTION = "gateway_restart"
P1_METRICS = ("cpu_percent", "memory_percent")
METRICS = ("cpu_percent", "memory_percent", "swap_percent", "disk_percent")
LABELS = {"cpu_percent": "CPU", "memory_percent": "memory", "swap_percent": "swap",
          "disk_percent": "disk"}
# Counters older than this say nothing about now (the timer was off): no rate.
RATE_MAX_WINDOW_S = 900.0
PERF = {"cpu_percent": "cpu", "memory_percent": "mem", "swap_percent": "swap",
        "disk_percent": "disk"}


@dataclass(frozen=True)
class GatewayReading:
    process: GatewayProcess | None
    cgroup: CgroupMemory | None
    cgroup_how: str  # configured | /proc/<pid>/cgroup | auto
    cgroup_problem: str  # why there is no cgroup reading ("" when there is one)
    lookup: str = "searched"  # searched | remembered (the process found last run, verified)
    key: str = ""  # what it was looked up by: gateway.process_name@<health port>


@dataclass(frozen=True)
class Samples:
    host: HostSample | None  # None: a gateway-only run (the mc-resource-monitor hook)
    pressure: Pressure | None
    gateway: GatewayReading
    gpu: GpuSample | None  # None: not read (gateway-only run or resources.gpu_enabled off)


@dataclass(frozen=True)
class PressureChange:
    transition: str  # enter | update | clear
    level: str
    reason: str
    values: dict[str, Any]
    flag: dict[str, Any] | None  # the record to store under state["flags"]; None on clear


@dataclass
class Decision:
    findings: list[Finding]
    summary: str
    perfdata: dict[str, str]
    data: dict[str, Any]
    memory: dict[str, Any]  # the new state["commands"]["check resources"]
    pressure: PressureChange | None = None
    restart_reason: str | None = None
    observed: list[Finding] = field(default_factory=list)  # risk changed since last run


def _count(value: Any) -> int:
    """A stored counter, or 0 when the state holds something else."""
    try:
        return max(0, int(value or 0))
    except (TypeError, ValueError):
        return 0


def restart_blocker(state: dict[str, Any]) -> str:
    """Why a new restart must not be asked for now: one is in flight or held."""
    for intent in state.get("intents", {}).values():
        if intent.get("action") == RESTART_ACTION:
            return f"a gateway restart is in progress ({intent.get('id')})"
    for rec in state.get("approvals", {}).values():
        if rec.get("action") == RESTART_ACTION and rec.get("status") == "pending":
            return f"a gateway restart is already waiting for approval ({rec.get('id')})"
    return ""


def _level_finding(metric: str, value: float | None, st: LevelState, th: Threshold,
                   cfg: ResourcesConfig, detail: str) -> Finding:
    label = LABELS[metric]
    if value is None:
        return Finding("host", metric.removesuffix("_percent"), st.level,
                       f"{label}: no reading {detail}".rstrip(), {"level": st.level})
    text = f"{label} {pct(value)}{detail}"
    if st.level == "none" and value >= th.medium:
        text += (f"; above {th.medium:g}% for {st.over_medium} of {cfg.enter_samples} samples "
                 "needed to raise the level")
    elif st.level != "none":
        text += f"; level {st.level.upper()}"
        if value < th.clear:
            text += (f", below {th.clear:g}% for {st.under_clear} of {cfg.exit_samples} "
                     "samples needed to clear")
    return Finding("host", metric.removesuffix("_percent"), st.level, text,
                   {"value_percent": value, "level": st.level, "medium_percent": th.medium,
                    "high_percent": th.high, "clear_percent": th.clear})


def _host(host: HostSample, prev: dict[str, Any], cfg: ResourcesConfig, now: float,
          levels: dict[str, LevelState]
          ) -> tuple[dict[str, Any], list[Finding], dict[str, str], bool]:
    counters = prev.get("host_counters") if isinstance(prev.get("host_counters"), dict) else None
    keep = False  # keep the older counters instead of storing this run's
    try:
        window = now - float(counters.get("ts", now)) if counters else 0.0
        cpu = cpu_percent_between(counters, host)
        io = io_rates_between(counters, host, window)
    except (TypeError, ValueError):  # counters from an edited state: start afresh
        window, cpu, io = 0.0, None, None
    no_rate = "(first sample or counters reset: a percent from the next run)"
    if cpu is not None and window < cfg.rate_min_window_s:
        no_rate = (f"(previous sample only {window:.3g} s ago; rates need "
                   f">= {cfg.rate_min_window_s:g} s, the older counters are kept)")
        cpu, io, keep = None, None, True
    elif cpu is not None and window > RATE_MAX_WINDOW_S:
        no_rate = (f"(previous sample {window:.0f} s ago: too old to say anything about "
                   "now; a percent from the next run)")
        cpu, io = None, None
    values = {"cpu_percent": cpu, "memory_percent": host.memory_percent,
              "swap_percent": host.swap_percent, "disk_percent": host.disk_percent}
    per_core = host.load_1m / max(1, host.cpu_count)
    cores = f"{host.cpu_count} core{'' if host.cpu_count == 1 else 's'}"
    load = f"load {host.load_1m:.2f} ({per_core:.2f}/core, {cores})"
    details = {
        "cpu_percent": f" over the last {window:.3g} s; {load}" if cpu is not None else
                       f"{no_rate}; {load}",
        "memory_percent": (f" used ({size(host.memory_total_bytes - host.memory_available_bytes)}"
                           f" of {size(host.memory_total_bytes)}, "
                           f"{size(host.memory_available_bytes)} available)"),
        "swap_percent": (f" used ({size(host.swap_used_bytes)} of {size(host.swap_total_bytes)})"
                         if host.swap_percent is not None else "(the host has no swap)"),
        "disk_percent": (f" used on the workspace filesystem ({host.disk_path}: "
                         f"{size(host.disk_free_bytes)} free)"),
    }
    findings: list[Finding] = []
    perf: dict[str, str] = {}
    for metric in METRICS:
        th: Threshold = getattr(cfg, metric)
        levels[metric] = step_level(levels[metric], values[metric], th, cfg.enter_samples,
                                    cfg.exit_samples)
        findings.append(_level_finding(metric, values[metric], levels[metric], th, cfg,
                                       details[metric]))
        if values[metric] is not None:
            perf[PERF[metric]] = f"{values[metric]:.1f}%;{th.medium:g};{th.high:g};0;100"
    perf["load1_per_core"] = f"{per_core:.2f}"
    if io is not None:
        findings.append(Finding("host", "io", "none",
                                f"IO read {size(io.read_bytes_per_s)}/s, write "
                                f"{size(io.write_bytes_per_s)}/s; busiest disk "
                                f"{io.busiest_disk or '-'} {io.busy_percent:.0f}% busy",
                                {"busy_percent": io.busy_percent}))
        perf["io_busy"] = f"{io.busy_percent:.1f}%;;;0;100"
    data = {
        "cpu_count": host.cpu_count, "cpu_percent": cpu, "cpu_window_s": round(window, 3) or None,
        "load_1m": host.load_1m, "load_5m": host.load_5m, "load_15m": host.load_15m,
        "load_1m_per_core": round(per_core, 3), "load_5m_per_core":
            round(host.load_5m / max(1, host.cpu_count), 3),
        "memory_total_bytes": host.memory_total_bytes,
        "memory_available_bytes": host.memory_available_bytes,
        "memory_percent": host.memory_percent, "swap_total_bytes": host.swap_total_bytes,
        "swap_used_bytes": host.swap_used_bytes, "swap_percent": host.swap_percent,
        "disk_path": host.disk_path, "disk_total_bytes": host.disk_total_bytes,
        "disk_used_bytes": host.disk_used_bytes, "disk_free_bytes": host.disk_free_bytes,
        "disk_percent": host.disk_percent,
        "io_window_s": io.window_s if io else None,
        "io_read_bytes_per_s": io.read_bytes_per_s if io else None,
        "io_write_bytes_per_s": io.write_bytes_per_s if io else None,
        "io_read_ops_per_s": io.read_ops_per_s if io else None,
        "io_write_ops_per_s": io.write_ops_per_s if io else None,
        "io_busy_percent": io.busy_percent if io else None,
        "io_busiest_disk": io.busiest_disk if io else None,
    }
    return data, findings, perf, keep


def _gateway(gw: GatewayReading, prev: dict[str, Any], state: dict[str, Any],
             cfg: ResourcesConfig) -> tuple[dict[str, Any], list[Finding], dict[str, str],
                                            str | None, dict[str, Any]]:
    findings: list[Finding] = []
    perf: dict[str, str] = {}
    proc, cg = gw.process, gw.cgroup
    if proc is None:
        findings.append(Finding("gateway", "process", "low",
                                "gateway process not found (not running, or named differently "
                                "from gateway.process_name); zombie-report watches liveness", {}))
    else:
        findings.append(Finding("gateway", "process", "none",
                                f"gateway PID {proc.pid} ({proc.found_by}, {proc.status}): RSS "
                                f"{size(proc.rss_bytes)}, {size(proc.tree_rss_bytes)} with children",
                                {"pid": proc.pid}))
    usage = cg.usage_bytes if cg else (proc.tree_rss_bytes if proc else None)
    mark, source = (cg.high_bytes, "memory.high" if cg.version == 2 else
                    "memory.soft_limit_in_bytes") if cg and cg.high_bytes else (None, "")
    if mark is None and cfg.gateway_memory_ceiling_bytes and usage is not None:
        mark, source = cfg.gateway_memory_ceiling_bytes, "resources.gateway_memory_ceiling_bytes"
    ratio = round(usage / mark, 4) if usage is not None and mark else None
    old = prev.get("gateway") if isinstance(prev.get("gateway"), dict) else {}
    over = ratio is not None and ratio > cfg.gateway_memory_high_ratio
    count = _count(old.get("over_count")) + 1 if over else 0
    what = (f"gateway cgroup {cg.path} (v{cg.version})" if cg else "gateway process tree RSS")
    reason: str | None = None
    skipped = ""
    if cg is None:
        findings.append(Finding("gateway", "cgroup", "low",
                                f"gateway cgroup not read: {gw.cgroup_problem}",
                                {"how": gw.cgroup_how}))
    if ratio is None:
        if usage is not None:
            limit = f"; memory.max {size(cg.max_bytes)}" if cg and cg.max_bytes else ""
            findings.append(Finding(
                "gateway", "memory_ratio", "low",
                f"{what}: {size(usage)} used, no high watermark set{limit}: the P1b ratio is "
                "undefined (set MemoryHigh= on the unit, or resources.gateway_memory_ceiling_bytes)",
                {"usage_bytes": usage}))
    else:
        numbers = (f"{what}: {size(usage)} is {ratio * 100:.1f}% of its high watermark "
                   f"{size(mark)} ({source})")
        risk = "none"
        text = numbers + f"; P1b acts above {cfg.gateway_memory_high_ratio * 100:g}%"
        if over:
            blocker = restart_blocker(state)
            risk = "medium"
            text = (f"{numbers}, above {cfg.gateway_memory_high_ratio * 100:g}% for {count} of "
                    f"{cfg.gateway_confirm_samples} runs needed")
            if count >= cfg.gateway_confirm_samples:
                risk = "high"
                if blocker:
                    skipped = blocker
                    text += f"; no new restart asked: {blocker}"
                else:
                    reason = (f"P1b (R12): {numbers}, above the "
                              f"{cfg.gateway_memory_high_ratio * 100:g}% ratio for {count} "
                              "consecutive runs")
                    text += "; safe restart asked"
                    count = 0  # the next request needs a fresh confirmation
        findings.append(Finding("gateway", "memory_ratio", risk, text,
                                {"ratio": ratio, "usage_bytes": usage, "watermark_bytes": mark}))
        perf["gw_ratio"] = f"{ratio:.3f};{cfg.gateway_memory_high_ratio:g};;0"
    if usage is not None:
        perf["gw_mem"] = f"{usage}B;;;0" + (f";{mark}" if mark else "")
    data = {
        "process": None if proc is None else {
            "pid": proc.pid, "name": proc.name, "status": proc.status, "found_by": proc.found_by,
            "rss_bytes": proc.rss_bytes, "tree_rss_bytes": proc.tree_rss_bytes,
            "num_threads": proc.num_threads, "cpu_time_s": round(proc.cpu_time_s, 2),
            "create_time": proc.create_time, "lookup": gw.lookup},
        "cgroup": None if cg is None else {
            "path": cg.path, "version": cg.version, "usage_bytes": cg.usage_bytes,
            "high_bytes": cg.high_bytes, "max_bytes": cg.max_bytes,
            "high_events": cg.high_events, "max_events": cg.max_events,
            "oom_kills": cg.oom_kills, "failcnt": cg.failcnt, "anon_bytes": cg.anon_bytes,
            "file_bytes": cg.file_bytes,
            "pressure_some_avg60_percent": cg.pressure.some.avg60_percent
            if cg.pressure and cg.pressure.some else None,
            "pressure_full_avg60_percent": cg.pressure.full.avg60_percent
            if cg.pressure and cg.pressure.full else None},
        "cgroup_how": gw.cgroup_how, "cgroup_problem": gw.cgroup_problem or None,
        "usage_bytes": usage, "watermark_bytes": mark, "watermark_source": source or None,
        "ratio": ratio, "ratio_threshold": cfg.gateway_memory_high_ratio,
        "over_count": count if reason is None else cfg.gateway_confirm_samples,
        "confirm_samples": cfg.gateway_confirm_samples,
        "restart": {"wanted": reason is not None, "reason": reason, "skipped": skipped or None},
    }
    hint = None if proc is None or proc.found_by not in ("name", "name+port") else {
        "pid": proc.pid, "create_time": proc.create_time, "name": proc.name, "key": gw.key}
    return data, findings, perf, reason, {"over_count": count, "last_ratio": ratio,
                                          "process": hint}


def _p1(levels: dict[str, LevelState], values: dict[str, Any], flag: dict[str, Any] | None,
        cfg: ResourcesConfig, now: float) -> PressureChange | None:
    level = worst_risk([levels[m].level for m in P1_METRICS])
    if level == "none":
        if not flag:
            return None
        return PressureChange("clear", "none", "CPU and memory back below their clear levels "
                              f"for {cfg.exit_samples} samples", values, None)
    parts = []
    for m in P1_METRICS:
        if levels[m].level != "none":
            th: Threshold = getattr(cfg, m)
            bound = th.high if levels[m].level == "high" else th.medium
            parts.append(f"{LABELS[m]} {levels[m].level} (entered at >= {bound:g}% for "
                         f"{cfg.enter_samples} samples; now {pct(values.get(m))})")
    reason = "P1 (R8): " + ", ".join(parts)
    try:
        since = float(flag["since"]) if flag and "since" in flag else now
    except (TypeError, ValueError):  # an edited flag: the episode starts now
        since = now
    record = {"since": since, "until": None, "reason": reason, "values": values,
              "blocks_spawn": True, "subsystem": "resources", "risk": level,
              "set_by": "check resources", "updated": now}
    return PressureChange("update" if flag else "enter", level, reason, values, record)


def decide(samples: Samples, state: dict[str, Any], cfg: ResourcesConfig, now: float
           ) -> Decision:
    """The whole judgement of one run. `state` is read, never changed."""
    prev = state.get("commands", {}).get("check resources") or {}
    raw_levels = prev.get("levels") if isinstance(prev.get("levels"), dict) else {}
    levels = {m: LevelState.from_dict(raw_levels.get(m)) for m in METRICS}
    findings: list[Finding] = []
    perf: dict[str, str] = {}
    data: dict[str, Any] = {}
    memory: dict[str, Any] = {k: v for k, v in prev.items() if k in ("host_counters", "risks")}
    pressure_change = None
    if samples.host is not None:
        host_data, host_findings, host_perf, keep = _host(samples.host, prev, cfg, now, levels)
        findings += host_findings
        perf.update(host_perf)
        data["host"] = host_data
        if not keep:
            memory["host_counters"] = {**samples.host.counters(), "ts": now}
        values = {m: host_data[m] for m in P1_METRICS}
        values.update({f"{m.removesuffix('_percent')}_level": levels[m].level for m in P1_METRICS})
        flag = state.get("flags", {}).get(FLAG)
        pressure_change = _p1(levels, values, flag if isinstance(flag, dict) else None, cfg, now)
        if pressure_change is not None and pressure_change.transition != "clear":
            findings.append(Finding("resources", FLAG, pressure_change.level,
                                    f"{pressure_change.reason}; spawns are blocked until it "
                                    "clears (ctoops gate spawn exits 1)", {}))
        data["resource_pressure"] = {
            "active": pressure_change is not None and pressure_change.transition != "clear",
            "transition": pressure_change.transition if pressure_change else None,
            "level": pressure_change.level if pressure_change else "none",
            "since": (pressure_change.flag or {}).get("since") if pressure_change else None}
    if samples.pressure is not None:
        data["pressure"], psi_finding = pressure_view(samples.pressure)
        findings.append(psi_finding)
    gw_data, gw_findings, gw_perf, restart_reason, gw_memory = _gateway(
        samples.gateway, prev, state, cfg)
    findings += gw_findings
    perf.update(gw_perf)
    data["gateway"] = gw_data
    memory["gateway"] = gw_memory
    if samples.host is not None:
        data["gpu"], gpu_findings, gpu_perf = gpu_view(samples.gpu)
        findings += gpu_findings
        perf.update(gpu_perf)
    memory["levels"] = {m: levels[m].as_dict() for m in METRICS}
    data["levels"] = {m: levels[m].level for m in METRICS} if samples.host is not None else None
    old_risks = prev.get("risks") if isinstance(prev.get("risks"), dict) else {}
    # A finding absent this run counts as back to none, so a recurrence is observed
    # again; what a gateway-only run did not look at keeps its last risk.
    looked_at = {"gateway", *(("host", "resources", "gpu") if samples.host is not None else ())}
    risks = {k: v for k, v in old_risks.items() if k.split("/")[0] not in looked_at}
    observed = []
    for f in findings:
        key = f"{f.subsystem}/{f.check}"
        if old_risks.get(key, "none") != f.risk:
            observed.append(f)
        risks[key] = f.risk
    memory["risks"] = risks
    return Decision(findings, summary(data, restart_reason is not None), perf, data,
                    memory, pressure_change, restart_reason, observed)
