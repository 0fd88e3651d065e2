"""The retry policy (R19): back-off schedule, healthy reset, manual cut-off (pure)."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ctoops.config import load_config
from ctoops.policy.retry import Loss, attempts_since_reset, backoff_s, retry_policy

BASE = load_config(None).sessions  # base 60 s, cap 3600 s, 3 retries, reset after 3600 s
T0 = 1_796_000_000.0


def cfg(**kw):
    return dataclasses.replace(BASE, **kw)


def losses(*gaps: float, started: list[float | None] | None = None) -> list[Loss]:
    out, t = [], T0
    for i, gap in enumerate(gaps):
        t += gap
        out.append(Loss(t, f"agent:main:subagent:{i}", "store_status", "failed",
                        (started or [None] * len(gaps))[i]))
    return out


def test_r19_backoff_doubles_from_base_and_stops_at_the_cap():
    c = cfg(backoff_base_s=60, backoff_cap_s=600)
    assert [backoff_s(n, c) for n in range(1, 8)] == [60, 120, 240, 480, 600, 600, 600]
    assert backoff_s(10_000, c) == 600


@given(st.integers(1, 200), st.floats(1, 1e4), st.floats(1, 1e6))
def test_r19_backoff_never_exceeds_the_cap_and_never_shrinks(n, base, cap):
    c = cfg(backoff_base_s=base, backoff_cap_s=cap)
    assert backoff_s(n, c) <= cap
    assert backoff_s(n + 1, c) >= backoff_s(n, c)


def test_r19_first_loss_waits_the_base_then_retry_now_once_it_passed():
    history = losses(0)
    p = retry_policy(history, BASE, T0 + 10)
    assert (p.verdict, p.attempts, p.backoff_s, p.retry_at) == ("retry_after", 1, 60, T0 + 60)
    assert p.retries_left == 2
    assert retry_policy(history, BASE, T0 + 60).verdict == "retry_now"


def test_r19_manual_after_max_auto_retries_losses_in_a_row():
    # losses right after each allowed retry: 1, 2, 3 are retried, the 4th is manual
    c = cfg(max_auto_retries=3)
    history = losses(0, 61, 121, 241)
    verdicts = [retry_policy(history[:n], c, history[n - 1].ts).verdict for n in range(1, 5)]
    assert verdicts == ["retry_after", "retry_after", "retry_after", "manual"]
    manual = retry_policy(history, c, history[-1].ts + 10**6)
    assert manual.verdict == "manual" and manual.retry_at is None and manual.attempts == 4
    assert len(manual.last_failures) == 3  # the last three, newest last
    assert manual.last_failures[-1]["session_key"].endswith(":3")


def test_r19_zero_auto_retries_means_the_first_loss_is_manual():
    assert retry_policy(losses(0), cfg(max_auto_retries=0), T0).verdict == "manual"


def test_r19_a_run_healthy_for_healthy_reset_s_starts_the_backoff_again():
    c = cfg(healthy_reset_s=600)
    # the second run started at +100 and died at +1000: 900 s healthy -> reset
    history = losses(0, 1000, started=[None, T0 + 100])
    assert attempts_since_reset(history, c) == 1
    assert retry_policy(history, c, T0 + 1000).backoff_s == 60
    # died 300 s after it started: not healthy -> second attempt, doubled wait
    short = losses(0, 400, started=[None, T0 + 100])
    assert attempts_since_reset(short, c) == 2
    assert retry_policy(short, c, T0 + 400).backoff_s == 120


def test_r19_unseen_restart_is_assumed_at_the_earliest_moment_so_health_is_not_overcounted():
    c = cfg(healthy_reset_s=600)
    # no start seen: assumed at loss1 + 60 s back-off; died 500 s later -> not healthy
    assert attempts_since_reset(losses(0, 560), c) == 2
    # 700 s after the assumed start -> healthy, reset
    assert attempts_since_reset(losses(0, 760), c) == 1


def test_r19_no_history_is_a_programming_error():
    with pytest.raises(ValueError):
        retry_policy([], BASE, T0)
