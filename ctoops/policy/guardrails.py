"""The guardrails (R5-R7, R25), as pure functions of (request, history, config, now).

One source of truth for DESIGN.md's "Guardrail semantics": the restart budget is
checked before the kill-switch; windows are sliding and an event exactly one window
old no longer counts; held requests do not block later ones; an operator's approval
passes the kill-switch but not the budget (unless the budget is overridden).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from ctoops.config import GuardrailsConfig

RISKS = ("low", "medium", "high")
ALLOWED = "allowed"
REFUSED = "refused"
NEEDS_APPROVAL = "needs_approval"


@dataclass(frozen=True)
class ActionRequest:
    """An action a command wants, before the guardrails have judged it."""

    action: str  # e.g. gateway_restart, chain_freeze, spawn_block
    subsystem: str  # gateway, sessions, resources, gpu, chain, ...
    risk: str  # low | medium | high
    reason: str
    critical: bool = False  # destructive: the kill-switch covers it (R25)
    restart: bool = False  # counts against the restart budget (R7)
    auto: bool = False  # started by a timer or hook, not a person
    approved: bool = False  # an operator approved it: passes the kill-switch
    override_budget: bool = False  # the operator also overrode the budget (audited)

    def __post_init__(self) -> None:
        if self.risk not in RISKS:
            raise ValueError(f"risk must be one of {RISKS}, not {self.risk!r}")


@dataclass(frozen=True)
class HistoryEvent:
    """An admitted action as the state remembers it (outcome aside: a failed or
    unknown outcome still spent its slot)."""

    ts: float
    action: str
    subsystem: str
    risk: str
    critical: bool
    restart: bool

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> HistoryEvent:
        return cls(float(d["ts"]), str(d["action"]), str(d["subsystem"]), str(d["risk"]),
                   bool(d.get("critical")), bool(d.get("restart")))


@dataclass(frozen=True)
class Verdict:
    """What the guardrails said, with enough to explain it to a person."""

    outcome: str  # allowed | refused | needs_approval
    limit: str | None = None  # which rule decided: restart_budget, kill_switch, ...
    count: int = 0  # events already in the window
    maximum: int = 0  # what the window allows
    window_s: float = 0.0
    retry_at: float | None = None  # when the limit will allow again (None: never by itself)
    explanation: str = ""

    @property
    def allowed(self) -> bool:
        return self.outcome == ALLOWED

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _in_window(events: Iterable[HistoryEvent], now: float, window_s: float) -> list[HistoryEvent]:
    """Sliding window (now - window, now]: an event exactly one window old is out."""
    return sorted((e for e in events if now - window_s < e.ts <= now), key=lambda e: e.ts)


def _reopens_at(in_window: list[HistoryEvent], maximum: int, window_s: float) -> float | None:
    """When enough events leave the window for one more to fit."""
    if len(in_window) < maximum:
        return None  # open now
    if maximum <= 0:
        return None  # a limit of zero never reopens by itself
    return in_window[len(in_window) - maximum].ts + window_s


def restart_budget(history: Iterable[HistoryEvent], cfg: GuardrailsConfig, now: float
                   ) -> tuple[int, float | None]:
    """(restarts in the window, when one more will fit)."""
    window = _in_window((e for e in history if e.restart), now, cfg.restart_window_s)
    return len(window), _reopens_at(window, cfg.restarts_per_window, cfg.restart_window_s)


def kill_switch_count(history: Iterable[HistoryEvent], cfg: GuardrailsConfig, now: float
                      ) -> tuple[int, float | None]:
    window_s = cfg.kill_switch_window_ms / 1000.0
    window = _in_window((e for e in history if e.critical), now, window_s)
    return len(window), _reopens_at(window, cfg.kill_critical_retries, window_s)


def medium_cooldown(history: Iterable[HistoryEvent], subsystem: str, cfg: GuardrailsConfig,
                    now: float) -> tuple[int, float | None]:
    window = _in_window((e for e in history if e.risk == "medium" and e.subsystem == subsystem),
                        now, cfg.medium_window_s)
    return len(window), _reopens_at(window, cfg.medium_actions_per_window, cfg.medium_window_s)


def admit(req: ActionRequest, history: Iterable[HistoryEvent], cfg: GuardrailsConfig,
          now: float, safe_mode: bool = False) -> Verdict:
    """Judge one request. Order: low risk, safe mode, restart budget, kill-switch,
    medium cooldown (the budget before the kill-switch, as DESIGN.md says)."""
    history = list(history)
    if req.risk == "low":
        return Verdict(REFUSED, "low_risk", explanation=(
            "low risk allows diagnosis and alerts only, no automatic action (R5)"))
    if safe_mode and (req.critical or req.restart) and not req.approved:
        return Verdict(NEEDS_APPROVAL, "safe_mode", explanation=(
            "safe mode: the state was unreadable, so the budget is unknown; "
            "a person must approve destructive actions until safe mode is left"))
    if req.restart and not req.override_budget:
        count, reopen = restart_budget(history, cfg, now)
        if count >= cfg.restarts_per_window:
            return Verdict(REFUSED, "restart_budget", count, cfg.restarts_per_window,
                           cfg.restart_window_s, reopen, (
                               f"restart budget spent: {count} of {cfg.restarts_per_window} "
                               f"restarts in the last {cfg.restart_window_s:g} s (R7)"))
    if req.critical and cfg.kill_switch_enabled and not req.approved:
        count, reopen = kill_switch_count(history, cfg, now)
        if count >= cfg.kill_critical_retries:
            window_s = cfg.kill_switch_window_ms / 1000.0
            return Verdict(NEEDS_APPROVAL, "kill_switch", count, cfg.kill_critical_retries,
                           window_s, reopen, (
                               f"kill-switch: {count} of {cfg.kill_critical_retries} critical "
                               f"actions already in the last {window_s:g} s (R25); held for "
                               "a person to approve or deny"))
    if req.risk == "medium" and not (req.critical or req.restart):
        count, reopen = medium_cooldown(history, req.subsystem, cfg, now)
        if count >= cfg.medium_actions_per_window:
            return Verdict(REFUSED, "medium_cooldown", count, cfg.medium_actions_per_window,
                           cfg.medium_window_s, reopen, (
                               f"cooldown: {count} of {cfg.medium_actions_per_window} medium "
                               f"actions on {req.subsystem} in the last "
                               f"{cfg.medium_window_s:g} s (R6)"))
    return Verdict(ALLOWED, explanation="within every limit")


def history_horizon_s(cfg: GuardrailsConfig) -> float:
    """How far back history must be kept for every window to be judged."""
    return max(cfg.restart_window_s, cfg.kill_switch_window_ms / 1000.0, cfg.medium_window_s)
