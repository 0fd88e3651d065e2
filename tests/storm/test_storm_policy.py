"""The storm decision and the freeze's circuit breaker, as pure functions (R4, R20)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from ctoops.config import RetryStormConfig, load_config
from ctoops.policy import storm
from ctoops.probes.errorevent import ErrorEvent
from ctoops.probes.openclaw.cron import CronJobState

NOW = 1_796_040_000.0


@pytest.fixture
def cfg() -> RetryStormConfig:
    return load_config(None).retry_storm


def burst(n: int, at: float, message: str = "upstream req_{i:08x} failed: HTTP 502",
          step: float = 1.0, origin: str = "agent") -> list[ErrorEvent]:
    return [ErrorEvent(at + i * step, "gateway_log", origin, message.format(i=0xabc00 + i))
            for i in range(n)]


def job(job_id: str, errors: int, last_error: str = "exit 3") -> CronJobState:
    return CronJobState(job_id, f"name-{job_id}", True, errors, "error", last_error, None)


def decide(cfg: RetryStormConfig, events: list[ErrorEvent], memory: dict[str, Any] | None = None,
           freezes: dict[str, Any] | None = None, now: float = NOW,
           jobs: tuple[CronJobState, ...] | None = None,
           approvals: dict[str, Any] | None = None) -> storm.StormDecision:
    return storm.decide(events, jobs, memory or {}, freezes or {}, approvals or {}, cfg, now)


def freeze_record(want: storm.FreezeWant, since: float) -> dict[str, Any]:
    """What the effector writes for an allowed want (only the fields decide reads)."""
    return {"scope": want.scope, "set_by": storm.SET_BY, "since": since,
            "until": since + want.duration_s, "level": want.level,
            "duration_s": want.duration_s, "storm_since": want.storm_since or since,
            "alerted_ts": since}


# --- the window ----------------------------------------------------------------------
def test_r4_threshold_events_of_one_fingerprint_within_the_window_is_a_storm(cfg) -> None:
    d = decide(cfg, burst(10, NOW - 9))
    assert d.level == "storm"
    assert [w.scope for w in d.wants] == ["global"]
    assert d.wants[0].count == 10 and d.wants[0].duration_s == 1800
    assert "upstream req_<id> failed: HTTP <n>" in d.wants[0].reason


def test_r4_one_below_threshold_is_elevated_not_a_storm(cfg) -> None:
    d = decide(cfg, burst(9, NOW - 9))
    assert d.level == "elevated" and not d.wants


def test_r4_half_the_threshold_is_elevated_and_below_is_quiet(cfg) -> None:
    assert decide(cfg, burst(5, NOW - 5)).level == "elevated"
    assert decide(cfg, burst(4, NOW - 5)).level == "quiet"


def test_r4_an_event_exactly_one_window_old_no_longer_counts(cfg) -> None:
    events = burst(9, NOW - 100) + burst(1, NOW - cfg.window_s)
    d = decide(cfg, events)
    assert not d.wants and d.stale_events == 1
    events = burst(9, NOW - 100) + burst(1, NOW - cfg.window_s + 0.001)
    assert decide(cfg, events).wants


def test_r4_the_window_slides_across_runs(cfg) -> None:
    first = decide(cfg, burst(6, NOW - 550), now=NOW)
    assert first.level == "elevated"
    # 100 s later the first six are older than the window: four new ones are quiet.
    second = decide(cfg, burst(4, NOW + 90), memory=first.memory, now=NOW + 100)
    assert second.top[0].count == 4 and second.level == "quiet"
    # Within the window, counts add up across runs into a storm.
    third = decide(cfg, burst(6, NOW + 100), memory=second.memory, now=NOW + 110)
    assert third.wants and third.wants[0].count == 10


def test_r4_distinct_failures_do_not_add_up(cfg) -> None:
    events = burst(6, NOW - 10) + burst(6, NOW - 10, "disk full on /var/lib/x/y")
    d = decide(cfg, events)
    assert not d.wants and len(d.top) == 2 and d.level == "elevated"


def test_r4_memory_is_bounded_per_fingerprint_and_in_fingerprints(cfg) -> None:
    small = dataclasses.replace(cfg, max_fingerprints=3)
    events = burst(storm.MAX_TIMESTAMPS + 50, NOW - 500, step=0.1)
    events += [ErrorEvent(NOW - 1, "events", "t", f"unique failure kind {chr(65 + i)}{chr(66 + i)}")
               for i in range(20)]
    d = decide(small, events)
    fps = d.memory["fingerprints"]
    assert len(fps) == 3
    biggest = max(fps.values(), key=lambda r: len(r["ts"]))
    assert len(biggest["ts"]) == storm.MAX_TIMESTAMPS


def test_r4_future_stamped_events_count_as_now(cfg) -> None:
    d = decide(cfg, burst(10, NOW + 3600))
    assert d.wants and all(t <= NOW for t in d.memory["fingerprints"][d.wants[0].key]["ts"])


def test_r4_top_fingerprints_carry_a_count_and_one_raw_sample(cfg) -> None:
    d = decide(cfg, burst(3, NOW - 3) + burst(7, NOW - 3, "quota exceeded for key sk_live_12345678"))
    assert [v.count for v in d.top] == [7, 3]
    assert d.top[0].sample.startswith("quota exceeded for key")


# --- jobs ----------------------------------------------------------------------------
def test_r4_a_job_at_its_consecutive_error_threshold_freezes_that_job(cfg) -> None:
    d = decide(cfg, [], jobs=(job("a", 5), job("b", 4)))
    assert [(w.scope, w.errors) for w in d.wants] == [("job:a", 5)]
    assert d.level == "storm"
    assert decide(cfg, [], jobs=(job("b", 3),)).level == "elevated"


def test_r4_a_job_is_not_frozen_again_for_errors_already_handled(cfg) -> None:
    d = decide(cfg, [], jobs=(job("a", 5),))
    memory = d.memory
    again = decide(cfg, [], memory=memory, jobs=(job("a", 5),))
    assert not again.wants
    more = decide(cfg, [], memory=memory, jobs=(job("a", 6),))
    assert [w.scope for w in more.wants] == ["job:a"]
    # The streak ended (a success) and a new one reached the threshold: a new storm.
    reset = decide(cfg, [], memory=memory, jobs=(job("a", 0),))
    fresh = decide(cfg, [], memory=reset.memory, jobs=(job("a", 5),))
    assert [w.scope for w in fresh.wants] == ["job:a"]


def test_r20_a_job_storm_inside_a_global_freeze_is_covered_not_stacked(cfg) -> None:
    d = decide(cfg, burst(10, NOW - 10), jobs=(job("a", 7),))
    assert [w.scope for w in d.wants] == ["global"] and d.covered == ("job:a",)


# --- the freeze's lifecycle -----------------------------------------------------------
def test_r20_an_open_freeze_is_not_stacked_and_nothing_is_resolved(cfg) -> None:
    first = decide(cfg, burst(10, NOW - 10))
    rec = freeze_record(first.wants[0], NOW)
    during = decide(cfg, burst(10, NOW + 60), memory=first.memory, freezes={"global": rec},
                    now=NOW + 70)
    assert not during.wants and not during.closes and during.frozen[0][0] == "global"
    quiet = decide(cfg, [], memory=first.memory, freezes={"global": rec}, now=NOW + 1799)
    assert not quiet.closes and quiet.level == "storm"


def test_r20_half_open_run_that_finds_quiet_closes(cfg) -> None:
    first = decide(cfg, burst(10, NOW - 10))
    rec = freeze_record(first.wants[0], NOW)
    after = decide(cfg, [], memory=first.memory, freezes={"global": rec}, now=NOW + 1800)
    assert [c.scope for c in after.closes] == ["global"] and not after.wants
    assert after.level == "quiet"


def test_r20_half_open_run_that_finds_the_storm_refreezes_doubled_then_capped(cfg) -> None:
    memory: dict[str, Any] = {}
    freezes: dict[str, Any] = {}
    now = NOW
    durations = []
    for _ in range(6):
        d = decide(cfg, burst(10, now - 10), memory=memory, freezes=freezes, now=now)
        assert len(d.wants) == 1 and not d.closes
        durations.append(d.wants[0].duration_s)
        freezes = {"global": freeze_record(d.wants[0], now)}
        memory = d.memory
        now += d.wants[0].duration_s
    assert durations == [1800, 3600, 7200, 14400, 14400, 14400]
    assert d.wants[0].kind == "refreeze" and d.wants[0].storm_since == NOW


def test_r20_a_job_freeze_half_open_closes_when_the_job_had_no_new_errors(cfg) -> None:
    first = decide(cfg, [], jobs=(job("a", 5),))
    rec = freeze_record(first.wants[0], NOW)
    same = decide(cfg, [], memory=first.memory, freezes={"job:a": rec}, now=NOW + 1800,
                  jobs=(job("a", 5),))
    assert [c.scope for c in same.closes] == ["job:a"]
    worse = decide(cfg, [], memory=first.memory, freezes={"job:a": rec}, now=NOW + 1800,
                   jobs=(job("a", 8),))
    assert [(w.scope, w.level, w.duration_s) for w in worse.wants] == [("job:a", 2, 3600)]
    blind = decide(cfg, [], memory=first.memory, freezes={"job:a": rec}, now=NOW + 1800)
    assert blind.waiting == ("job:a",) and not blind.closes


def test_r25_a_held_freeze_is_not_asked_again_while_pending_nor_after_denial(cfg) -> None:
    memory = {"held": {"global": {"approval_id": "apr-1"}}}
    pending = decide(cfg, burst(10, NOW - 10), memory=memory,
                     approvals={"apr-1": {"status": "pending"}})
    assert not pending.wants and pending.held[0].status == "pending" and pending.level == "storm"
    denied = decide(cfg, burst(10, NOW - 10), memory=memory,
                    approvals={"apr-1": {"status": "denied"}})
    assert not denied.wants and denied.held[0].status == "denied"
    quiet = decide(cfg, [], memory=memory, approvals={"apr-1": {"status": "denied"}})
    assert "global" not in quiet.memory["held"]


def test_r20_freezes_set_by_others_are_left_alone(cfg) -> None:
    other = {"global": {"since": NOW - 10, "until": NOW - 1, "reason": "operator"}}
    d = decide(cfg, [], freezes=other)
    assert not d.closes and not d.frozen
    still = {"global": {"since": NOW - 10, "until": NOW + 60, "reason": "operator"}}
    d = decide(cfg, burst(10, NOW - 10), freezes=still)
    assert not d.wants and d.covered == ("global",)
