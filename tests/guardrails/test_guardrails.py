"""The guardrails as pure functions (R5-R7, R25; DESIGN.md "Guardrail semantics")."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from ctoops.config import load_config
from ctoops.policy.guardrails import ActionRequest, HistoryEvent, admit

CFG = load_config(None).guardrails
RESTART = ActionRequest("gateway_restart", "gateway", "high", "why", critical=True, restart=True)
FREEZE = ActionRequest("chain_freeze", "chain", "high", "storm", critical=True)
MEDIUM = ActionRequest("spawn_block", "resources", "medium", "pressure")


def _event(req: ActionRequest, ts: float) -> HistoryEvent:
    return HistoryEvent(ts, req.action, req.subsystem, req.risk, req.critical, req.restart)


def _simulate(req: ActionRequest, times: list[float], cfg=CFG) -> list[tuple[float, str]]:
    history: list[HistoryEvent] = []
    out = []
    for t in sorted(times):
        verdict = admit(req, history, cfg, t)
        if verdict.allowed:
            history.append(_event(req, t))
        out.append((t, verdict.outcome))
    return out


@settings(max_examples=300, deadline=None)
@given(st.lists(st.floats(min_value=0, max_value=20_000, allow_nan=False), max_size=60))
def test_r7_never_more_than_3_restarts_in_any_hour(times: list[float]) -> None:
    cfg = replace(CFG, kill_switch_enabled=False)
    allowed = [t for t, o in _simulate(RESTART, times, cfg) if o == "allowed"]
    for t in allowed:
        assert sum(1 for u in allowed if t - 3600 < u <= t) <= 3


@settings(max_examples=300, deadline=None)
@given(st.lists(st.floats(min_value=0, max_value=3_000, allow_nan=False), max_size=40))
def test_r25_never_more_than_2_critical_actions_in_any_5_minutes(times: list[float]) -> None:
    allowed = [t for t, o in _simulate(FREEZE, times) if o == "allowed"]
    for t in allowed:
        assert sum(1 for u in allowed if t - 300 < u <= t) <= 2


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(min_value=0, max_value=6_000, allow_nan=False), max_size=40))
def test_r6_at_most_one_medium_action_per_subsystem_per_10_minutes(times: list[float]) -> None:
    allowed = [t for t, o in _simulate(MEDIUM, times) if o == "allowed"]
    for t in allowed:
        assert sum(1 for u in allowed if t - 600 < u <= t) <= 1


def test_r7_boundary_an_action_exactly_one_window_later_is_allowed_again() -> None:
    cfg = replace(CFG, kill_switch_enabled=False)
    history = [_event(RESTART, t) for t in (0.0, 10.0, 20.0)]
    just_before = admit(RESTART, history, cfg, 3599.999)
    assert just_before.outcome == "refused" and just_before.limit == "restart_budget"
    assert just_before.retry_at == 3600.0
    assert admit(RESTART, history, cfg, 3600.0).allowed  # the event at 0 is exactly 1 h old


def test_r25_boundary_exactly_5_minutes_later_is_allowed_again() -> None:
    history = [_event(FREEZE, 0.0), _event(FREEZE, 1.0)]
    assert admit(FREEZE, history, CFG, 299.0).outcome == "needs_approval"
    assert admit(FREEZE, history, CFG, 300.0).allowed


def test_r25_third_critical_action_in_window_is_held_not_refused() -> None:
    history = [_event(RESTART, 0.0), _event(RESTART, 60.0)]
    verdict = admit(RESTART, history, CFG, 120.0)
    assert verdict.outcome == "needs_approval" and verdict.limit == "kill_switch"
    assert verdict.count == 2 and verdict.maximum == 2 and verdict.retry_at == 300.0
    assert "kill-switch" in verdict.explanation


def test_r7_budget_is_checked_before_the_kill_switch() -> None:
    history = [_event(RESTART, t) for t in (0.0, 1000.0, 3500.0)]
    history += [_event(FREEZE, 3550.0)]
    verdict = admit(RESTART, history, CFG, 3560.0)
    assert verdict.limit == "restart_budget" and verdict.outcome == "refused"


def test_r25_held_requests_do_not_block_later_ones() -> None:
    history = [_event(FREEZE, 0.0), _event(FREEZE, 10.0)]
    assert admit(FREEZE, history, CFG, 20.0).outcome == "needs_approval"
    assert admit(FREEZE, history, CFG, 30.0).outcome == "needs_approval"
    assert admit(FREEZE, history, CFG, 310.0).allowed  # judged afresh, not queued behind


def test_r25_approval_passes_the_kill_switch_but_not_the_budget() -> None:
    approved = replace(RESTART, approved=True)
    history = [_event(RESTART, 0.0), _event(RESTART, 10.0)]
    assert admit(approved, history, CFG, 20.0).allowed
    history.append(_event(RESTART, 20.0))
    refused = admit(approved, history, CFG, 30.0)
    assert refused.limit == "restart_budget"
    assert admit(replace(approved, override_budget=True), history, CFG, 30.0).allowed


def test_r25_disabled_kill_switch_lets_critical_actions_through() -> None:
    cfg = replace(CFG, kill_switch_enabled=False)
    history = [_event(FREEZE, 0.0), _event(FREEZE, 1.0), _event(FREEZE, 2.0)]
    assert admit(FREEZE, history, cfg, 3.0).allowed


def test_r5_low_risk_allows_no_automatic_action() -> None:
    verdict = admit(ActionRequest("x", "resources", "low", "r"), [], CFG, 0.0)
    assert verdict.outcome == "refused" and verdict.limit == "low_risk"


def test_r6_cooldown_is_per_subsystem_and_explains_itself() -> None:
    history = [_event(MEDIUM, 100.0)]
    verdict = admit(MEDIUM, history, CFG, 200.0)
    assert verdict.limit == "medium_cooldown" and verdict.retry_at == 700.0
    assert "1 of 1 medium actions on resources" in verdict.explanation
    assert admit(replace(MEDIUM, subsystem="gpu"), history, CFG, 200.0).allowed


def test_r6_high_risk_actions_are_not_governed_by_the_medium_cooldown() -> None:
    history = [_event(MEDIUM, 100.0)]
    freeze_on_resources = replace(FREEZE, subsystem="resources")
    assert admit(freeze_on_resources, history, CFG, 200.0).allowed


def test_safe_mode_holds_destructive_but_not_approved_actions() -> None:
    assert admit(RESTART, [], CFG, 0.0, safe_mode=True).limit == "safe_mode"
    assert admit(replace(RESTART, approved=True), [], CFG, 0.0, safe_mode=True).allowed
