"""Dedup, reminders and "resolved" as a pure policy (no files, no clock)."""

from __future__ import annotations

import copy

from hypothesis import given, settings
from hypothesis import strategies as st

from ctoops.policy import alerting
from ctoops.policy.alerting import Observation, decide

REPEAT = 3600.0


def cond(active: bool = True, risk: str = "medium", key: str = "resources:pressure") -> Observation:
    return Observation(key, risk, "Memory pressure", True, active)


def event(key: str = "gateway:restart_coming") -> Observation:
    return Observation(key, "high", "Restart coming", False, True)


def run(seq: list[tuple[float, Observation]]) -> list[str]:
    alerts: dict = {}
    kinds = []
    for now, obs in seq:
        decisions, alerts = decide([obs], alerts, REPEAT, now)
        kinds.append(decisions[0].kind)
    return kinds


def test_r10_condition_is_sent_when_it_starts_then_suppressed_every_minute():
    kinds = run([(1000.0 + 60 * i, cond()) for i in range(10)])
    assert kinds == ["firing"] + ["suppressed"] * 9


def test_r10_reminder_only_after_repeat_interval_exactly():
    kinds = run([(0.0, cond()), (REPEAT - 1, cond()), (REPEAT, cond()), (REPEAT + 60, cond()),
                 (2 * REPEAT, cond())])
    assert kinds == ["firing", "suppressed", "reminder", "suppressed", "reminder"]


def test_r10_resolved_is_sent_once_when_the_condition_clears():
    kinds = run([(0.0, cond()), (60.0, cond(active=False)), (120.0, cond(active=False))])
    assert kinds == ["firing", "resolved", "quiet"]


def test_clear_without_an_alert_says_nothing():
    assert run([(0.0, cond(active=False))]) == ["quiet"]


def test_condition_returning_after_resolution_fires_again_at_once():
    kinds = run([(0.0, cond()), (60.0, cond(active=False)), (120.0, cond())])
    assert kinds == ["firing", "resolved", "firing"]


def test_rising_risk_is_sent_at_once_falling_risk_is_not():
    kinds = run([(0.0, cond(risk="medium")), (60.0, cond(risk="high")),
                 (120.0, cond(risk="medium")), (180.0, cond(risk="high"))])
    assert kinds == ["firing", "escalated", "suppressed", "suppressed"]


def test_events_are_never_deduplicated():
    kinds = run([(0.0, event()), (0.0, event()), (1.0, event())])
    assert kinds == ["event", "event", "event"]


def test_two_identical_conditions_in_one_batch_send_once():
    decisions, _ = decide([cond(), cond()], {}, REPEAT, 0.0)
    assert [d.kind for d in decisions] == ["firing", "suppressed"]


def test_keys_are_independent():
    decisions, _ = decide([cond(key="a:x"), cond(key="b:x")], {}, REPEAT, 0.0)
    assert [d.kind for d in decisions] == ["firing", "firing"]


def test_input_memory_is_not_modified():
    _, alerts = decide([cond()], {}, REPEAT, 0.0)
    before = copy.deepcopy(alerts)
    decide([cond(active=False)], alerts, REPEAT, 10.0)
    assert alerts == before


def test_resolved_alerts_are_forgotten_after_a_week():
    _, alerts = decide([cond()], {}, REPEAT, 0.0)
    _, alerts = decide([cond(active=False)], alerts, REPEAT, 10.0)
    assert alerts
    _, alerts = decide([], alerts, REPEAT, 10.0 + alerting.FORGET_RESOLVED_S)
    assert alerts == {}


def test_reminder_reports_when_the_condition_started():
    _, alerts = decide([cond()], {}, REPEAT, 100.0)
    decisions, _ = decide([cond()], alerts, REPEAT, 100.0 + REPEAT)
    assert decisions[0].kind == "reminder" and decisions[0].first_ts == 100.0


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.floats(min_value=0, max_value=5000), st.booleans(),
                          st.sampled_from(["low", "medium", "high"])), max_size=40))
def test_sends_of_a_lasting_condition_are_spaced_by_the_repeat_interval(steps):
    alerts: dict = {}
    now = 0.0
    last_sent: float | None = None
    firing = resolved = 0
    for gap, active, risk in steps:
        now += gap
        (d,), alerts = decide([cond(active, risk)], alerts, REPEAT, now)
        if d.kind == "firing":
            firing += 1
        elif d.kind == "resolved":
            resolved += 1
            assert firing == resolved  # a resolved always follows its firing
        elif d.kind == "reminder":
            assert last_sent is not None and now - last_sent >= REPEAT
        if d.kind in ("firing", "reminder", "escalated", "resolved"):
            last_sent = now
        assert d.kind != "resolved" or not active
    assert resolved in (firing, firing - 1)
