"""Is each agent's heartbeat fresh? A pure judgement (R3).

A heartbeat is the gateway's periodic agent turn. Its last time comes from the
main session entry (file era, `lastHeartbeatSentAt`) or from the `heartbeat`
cron job's `state_json.lastRunAtMs` (SQLite era); both are merged per agent,
the newer winning. The interval is the job's own `everyMs` when it says, else
`sessions.heartbeat_interval_s`. Stale means older than
`heartbeat_stale_factor` x interval: a warning finding, and a condition alert
that is resolved once when the heartbeat is fresh again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ctoops.actions.notify import Notice
from ctoops.audit import iso
from ctoops.config import SessionsConfig
from ctoops.probes.openclaw.model import HeartbeatRecord, OpenClawSnapshot
from ctoops.report import Finding


@dataclass(frozen=True)
class HeartbeatVerdict:
    agent_id: str
    last_ms: int | None
    age_s: float | None
    interval_s: float
    limit_s: float
    stale: bool
    enabled: bool
    source: str

    def as_dict(self) -> dict[str, Any]:
        return {"agent_id": self.agent_id, "last_ms": self.last_ms,
                "last_at": iso(self.last_ms / 1000) if self.last_ms else None,
                "age_s": None if self.age_s is None else round(self.age_s, 1),
                "interval_s": self.interval_s, "stale_after_s": self.limit_s,
                "stale": self.stale, "enabled": self.enabled, "source": self.source}


def merged_heartbeats(snap: OpenClawSnapshot) -> list[HeartbeatRecord]:
    """One record per agent: the job's schedule, the newest last beat of either source."""
    by_agent: dict[str, HeartbeatRecord] = {h.agent_id: h for h in snap.ledger.heartbeats}
    for agent in snap.agents:
        if agent.main_heartbeat_ms is None:
            continue
        have = by_agent.get(agent.agent_id)
        if have is None:
            by_agent[agent.agent_id] = HeartbeatRecord(agent.agent_id, agent.main_heartbeat_ms,
                                                       None, True, "main_entry")
        elif (have.last_ms or 0) < agent.main_heartbeat_ms:
            by_agent[agent.agent_id] = HeartbeatRecord(
                have.agent_id, agent.main_heartbeat_ms, have.interval_ms, have.enabled,
                "main_entry", have.created_ms)
    return [by_agent[k] for k in sorted(by_agent)]


def judge_heartbeat(rec: HeartbeatRecord, cfg: SessionsConfig, now: float) -> HeartbeatVerdict:
    interval = rec.interval_ms / 1000 if rec.interval_ms else cfg.heartbeat_interval_s
    limit = cfg.heartbeat_stale_factor * interval
    reference = rec.last_ms or rec.created_ms  # never beat: judged from the job's creation
    age = None if reference is None else max(0.0, now - reference / 1000)
    stale = rec.enabled and age is not None and age > limit
    return HeartbeatVerdict(rec.agent_id, rec.last_ms,
                            None if rec.last_ms is None else age, interval, limit, stale,
                            rec.enabled, rec.source)


@dataclass(frozen=True)
class HeartbeatDecision:
    verdicts: list[HeartbeatVerdict]
    findings: list[Finding]
    notices: list[Notice]  # raised while stale, resolved once when fresh again
    stale: dict[str, float]  # agent -> stale since: the memory for the next run


def decide_heartbeats(snap: OpenClawSnapshot, stale_memory: dict[str, Any], cfg: SessionsConfig,
                      now: float) -> HeartbeatDecision:
    """Verdicts, findings, notices and the new memory."""
    verdicts = [judge_heartbeat(r, cfg, now) for r in merged_heartbeats(snap)]
    findings: list[Finding] = []
    notices: list[Notice] = []
    memory: dict[str, float] = {}
    for v in verdicts:
        kind = f"heartbeat_stale:{v.agent_id}"
        if not v.enabled:
            findings.append(Finding("heartbeat", f"heartbeat:{v.agent_id}", "none",
                                    f"agent {v.agent_id}: heartbeat job disabled", v.as_dict()))
            continue
        if v.stale:
            since = float(stale_memory.get(v.agent_id, now))
            memory[v.agent_id] = since
            last = (f"last beat {iso(v.last_ms / 1000)}, {v.age_s:.0f} s ago" if v.last_ms
                    else "never beat since its job was created")
            text = (f"agent {v.agent_id}: heartbeat stale ({last}; limit {v.limit_s:g} s = "
                    f"{cfg.heartbeat_stale_factor:g} x {v.interval_s:g} s)")
            findings.append(Finding("heartbeat", f"heartbeat:{v.agent_id}", "medium", text,
                                    v.as_dict()))
            notices.append(Notice("heartbeat", kind, "medium",
                                  f"Heartbeat stale for agent {v.agent_id}", text, condition=True,
                                  active=True, fields={"agent": v.agent_id,
                                                       "since": iso(since)}))
            continue
        if v.last_ms is None:
            findings.append(Finding("heartbeat", f"heartbeat:{v.agent_id}", "low",
                                    f"agent {v.agent_id}: no heartbeat recorded yet", v.as_dict()))
        else:
            findings.append(Finding("heartbeat", f"heartbeat:{v.agent_id}", "none",
                                    f"agent {v.agent_id}: last heartbeat {v.age_s:.0f} s ago "
                                    f"(stale after {v.limit_s:g} s)", v.as_dict()))
        if v.agent_id in stale_memory:
            notices.append(Notice("heartbeat", kind, "medium",
                                  f"Heartbeat back for agent {v.agent_id}",
                                  f"agent {v.agent_id}: heartbeat fresh again", condition=True,
                                  active=False, fields={"agent": v.agent_id}))
    seen = {v.agent_id for v in verdicts}
    for agent, since in stale_memory.items():
        if agent not in seen:
            memory[agent] = float(since)  # no record this run (unreadable): not resolved
    return HeartbeatDecision(verdicts, findings, notices, memory)
