"""Which notices to send now: Alertmanager-like dedup, reminders and "resolved".

Pure: `decide(observations, alerts, repeat_interval_s, now)` takes the notices of
one run and the `state["alerts"]` memory and returns what to send plus the new
memory; no I/O, no clock. The caller runs it inside a short transaction and sends
outside the lock.

Why this shape: a timer that sees the same pressure every minute must not post
every minute (people mute noisy channels, then miss the one that matters), but a
lasting condition must not go silent either, and a cleared one must say so.

- A *condition* (condition=True) is keyed by subsystem + kind. It is sent when it
  starts ("firing"), again only after `repeat_interval_s` ("reminder"), at once
  when its risk rises ("escalated"), and once more when it clears ("resolved").
- An *event* (condition=False: a restart coming, the gateway back, an approval
  needed) is always sent: discrete actions are never deduplicated away.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

FIRING, REMINDER, ESCALATED, RESOLVED, EVENT = "firing", "reminder", "escalated", "resolved", "event"
SUPPRESSED, QUIET = "suppressed", "quiet"
SENDING = (FIRING, REMINDER, ESCALATED, RESOLVED, EVENT)
# A resolved alert is forgotten this long after it cleared (bounded state); a
# condition that returns later simply fires again as new.
FORGET_RESOLVED_S = 7 * 86400.0
_RISK_ORDER = {"none": 0, "low": 1, "medium": 2, "high": 3}


@dataclass(frozen=True)
class Observation:
    """What the policy needs from a Notice (kept apart so the policy has no import
    of the effector module)."""

    key: str
    risk: str
    title: str
    condition: bool
    active: bool


@dataclass(frozen=True)
class AlertDecision:
    key: str
    kind: str  # one of SENDING, or SUPPRESSED / QUIET
    reason: str
    first_ts: float | None = None  # when the condition started (conditions only)

    @property
    def send(self) -> bool:
        return self.kind in SENDING


def decide(observations: list[Observation], alerts: dict[str, Any], repeat_interval_s: float,
           now: float) -> tuple[list[AlertDecision], dict[str, Any]]:
    """One decision per observation, in order, and the new `alerts` memory (the
    input is not modified). Several observations of one key in a batch are taken
    one after the other, so the second of two identical ones is suppressed."""
    memory = {k: dict(v) for k, v in alerts.items() if isinstance(v, dict)}
    out: list[AlertDecision] = []
    for obs in observations:
        if not obs.condition:
            out.append(AlertDecision(obs.key, EVENT, "an event: always sent"))
            continue
        out.append(_decide_condition(obs, memory, repeat_interval_s, now))
    return out, _forget_old(memory, now)


def _decide_condition(obs: Observation, memory: dict[str, Any], repeat_interval_s: float,
                      now: float) -> AlertDecision:
    rec = memory.get(obs.key)
    was_active = bool(rec and rec.get("active"))
    if not obs.active:
        if not was_active:
            return AlertDecision(obs.key, QUIET, "not active and not alerting: nothing to say")
        assert rec is not None
        rec.update(active=False, resolved_ts=now, last_sent_ts=now)
        return AlertDecision(obs.key, RESOLVED, "the condition cleared",
                             float(rec.get("first_ts", now)))
    if not was_active:
        memory[obs.key] = {"first_ts": now, "last_sent_ts": now, "active": True,
                           "risk": obs.risk, "title": obs.title, "sent": 1}
        return AlertDecision(obs.key, FIRING, "the condition started", now)
    assert rec is not None
    first = float(rec.get("first_ts", now))
    last = float(rec.get("last_sent_ts", first))
    if _RISK_ORDER.get(obs.risk, 0) > _RISK_ORDER.get(str(rec.get("risk")), 0):
        rec.update(last_sent_ts=now, risk=obs.risk, title=obs.title,
                   sent=int(rec.get("sent", 0)) + 1)
        return AlertDecision(obs.key, ESCALATED, f"risk rose to {obs.risk}", first)
    if now - last >= repeat_interval_s:
        rec.update(last_sent_ts=now, risk=obs.risk, title=obs.title,
                   sent=int(rec.get("sent", 0)) + 1)
        return AlertDecision(obs.key, REMINDER,
                             f"still active {now - first:.0f} s after it started", first)
    return AlertDecision(obs.key, SUPPRESSED,
                         f"already sent {now - last:.0f} s ago; next reminder in "
                         f"{repeat_interval_s - (now - last):.0f} s", first)


def _forget_old(memory: dict[str, Any], now: float) -> dict[str, Any]:
    return {k: v for k, v in memory.items()
            if v.get("active") or now - float(v.get("resolved_ts", now)) < FORGET_RESOLVED_S}
