"""The retry policy for a task that lost its session (R19), as a pure function.

Modelled on Kubernetes' crash-loop back-off: each loss doubles the wait before
the next automatic retry (`backoff_base_s`, 2x, 4x, ... capped at
`backoff_cap_s`), and a task whose last run stayed healthy for
`healthy_reset_s` starts again from the base. After `max_auto_retries`
automatic retries the next loss is `manual`: no automatic retry, a person decides.

A run's healthy time is measured from when it started (ctoops saw the task in
progress again after a loss) to its loss. When ctoops never saw it restart, the
earliest moment it could have restarted (the previous loss plus its back-off)
is used, which under-counts health rather than over-counting it: a doubtful
case keeps backing off instead of resetting.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from ctoops.config import SessionsConfig

RETRY_NOW = "retry_now"
RETRY_AFTER = "retry_after"
MANUAL = "manual"
FAILURES_SHOWN = 3


@dataclass(frozen=True)
class Loss:
    """One time the task lost its session."""

    ts: float  # when ctoops recorded the loss
    session_key: str
    rule: str  # which dead-session rule fired
    explanation: str
    run_started_ts: float | None = None  # when ctoops saw this run start, if it did
    error: str | None = None  # the ledger's error text, when it has one

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Loss:
        started = d.get("run_started_ts")
        return cls(float(d["ts"]), str(d.get("session_key", "")), str(d.get("rule", "")),
                   str(d.get("explanation", "")),
                   float(started) if isinstance(started, (int, float)) else None,
                   d.get("error") if isinstance(d.get("error"), str) else None)


@dataclass(frozen=True)
class RetryPolicy:
    verdict: str  # retry_now | retry_after | manual
    attempts: int  # losses since the last healthy reset (this one included)
    retries_left: int  # automatic retries still allowed after this one
    backoff_s: float  # the wait this loss earned (0 for manual)
    retry_at: float | None  # epoch seconds; None for manual
    last_failures: tuple[dict[str, Any], ...]
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def backoff_s(attempt: int, cfg: SessionsConfig) -> float:
    """The wait after the `attempt`-th loss in a row (1-based): base * 2^(n-1), capped."""
    if attempt <= 0:
        return 0.0
    exponent = min(attempt - 1, 62)  # 2**62 s is past any cap; avoids huge floats
    return float(min(cfg.backoff_cap_s, cfg.backoff_base_s * (2 ** exponent)))


def attempts_since_reset(losses: Sequence[Loss], cfg: SessionsConfig) -> int:
    """Losses in the current streak: a run that stayed healthy for healthy_reset_s
    before it was lost starts a new streak."""
    streak = 0
    previous: Loss | None = None
    for loss in sorted(losses, key=lambda x: x.ts):
        if previous is not None:
            started = loss.run_started_ts
            if started is None:
                started = previous.ts + backoff_s(streak, cfg)
            if loss.ts - started >= cfg.healthy_reset_s:
                streak = 0
        streak += 1
        previous = loss
    return streak


def retry_policy(losses: Sequence[Loss], cfg: SessionsConfig, now: float) -> RetryPolicy:
    """What the orchestrator may do with the task now, from its loss history."""
    if not losses:
        raise ValueError("a retry policy needs at least one loss")
    ordered = sorted(losses, key=lambda x: x.ts)
    last = ordered[-1]
    attempts = attempts_since_reset(ordered, cfg)
    shown = tuple({"ts": x.ts, "session_key": x.session_key, "rule": x.rule,
                   "explanation": x.explanation, **({"error": x.error} if x.error else {})}
                  for x in ordered[-FAILURES_SHOWN:])
    if attempts > cfg.max_auto_retries:
        return RetryPolicy(MANUAL, attempts, 0, 0.0, None, shown,
                           f"lost {attempts} times in a row, more than max_auto_retries="
                           f"{cfg.max_auto_retries}: a person decides; no automatic retry")
    wait = backoff_s(attempts, cfg)
    retry_at = last.ts + wait
    left = cfg.max_auto_retries - attempts
    if now >= retry_at:
        return RetryPolicy(RETRY_NOW, attempts, left, wait, retry_at, shown,
                           f"loss {attempts} of at most {cfg.max_auto_retries} automatic "
                           f"retries; its back-off of {wait:g} s has passed")
    return RetryPolicy(RETRY_AFTER, attempts, left, wait, retry_at, shown,
                       f"loss {attempts} of at most {cfg.max_auto_retries} automatic retries; "
                       f"back off {wait:g} s")
