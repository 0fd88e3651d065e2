"""The dead-cron-run rules and the restart's pure decisions (R13 step 2, R14)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from ctoops.policy.prune import EntryFacts, build_context, decide_dead_runs
from ctoops.policy.restart import (
    RestartFacts,
    judge_reduction,
    lesson,
    reduction_pct,
    restart_in_flight,
)

NOW = 1_800_000_000_000.0
DAY = 86_400_000.0


def run(job: str, rid: str, age_ms: float = 60_000, status: str = "done",
        spawned_by: str | None = None) -> EntryFacts:
    return EntryFacts(f"agent:a:cron:{job}:run:{rid}", rid, NOW - age_ms, spawned_by, status)


def base(job: str, sid: str) -> EntryFacts:
    return EntryFacts(f"agent:a:cron:{job}", sid, NOW, None, None)


def sub(uid: str, parent: str, status: str = "done") -> EntryFacts:
    return EntryFacts(f"agent:a:subagent:{uid}", uid, NOW, parent, status)


def decide(entries, finished=None, running=(), edges=(), known=True):
    ctx = build_context(entries, finished or {}, running, edges, known)
    return decide_dead_runs(entries, ctx, NOW, DAY)


def test_r13_superseded_run_is_dead_current_one_kept() -> None:
    entries = [base("j", "r2"), run("j", "r1"), run("j", "r2")]
    v = decide(entries)
    assert v.dead == {"agent:a:cron:j:run:r1": "superseded"}


def test_r13_finished_in_run_log_is_dead_by_any_identifier() -> None:
    entries = [base("j", "r3"), run("j", "r1"), run("j", "r2"), run("j", "r3")]
    finished = {"j": frozenset({"r3", "agent:a:cron:j:run:r1"})}
    v = decide(entries, finished)
    assert v.dead["agent:a:cron:j:run:r3"] == "finished"
    assert v.dead["agent:a:cron:j:run:r1"] == "finished"


def test_r13_older_than_retention_is_dead_even_without_a_base() -> None:
    entries = [run("j", "old", age_ms=DAY + 1), run("j", "new", status="running")]
    v = decide(entries)
    assert v.dead == {"agent:a:cron:j:run:old": "expired"}


def test_r13_run_with_a_running_grandchild_is_kept() -> None:
    r1 = run("j", "r1")
    entries = [base("j", "r2"), r1, sub("c", r1.key), sub("g", "agent:a:subagent:c", "running")]
    v = decide(entries)
    assert v.dead == {}
    assert "running descendant" in v.protected[r1.key]


def test_r13_registry_alone_can_hold_a_run() -> None:
    r1 = run("j", "r1")
    entries = [base("j", "r2"), r1, EntryFacts("agent:a:subagent:c", "c", NOW, None, None)]
    v = decide(entries, running={"agent:a:subagent:c"}, edges=[(r1.key, "agent:a:subagent:c")])
    assert r1.key in v.protected and not v.dead


def test_r13_finished_children_do_not_hold_a_run() -> None:
    r1 = run("j", "r1")
    v = decide([base("j", "r2"), r1, sub("c", r1.key, "done")])
    assert v.dead == {r1.key: "superseded"}


def test_r13_unreadable_registry_keeps_runs_that_have_children() -> None:
    r1, r0 = run("j", "r1"), run("j", "r0")
    v = decide([base("j", "r2"), r0, r1, sub("c", r1.key, "done")], known=False)
    assert r1.key in v.protected and v.dead == {r0.key: "superseded"}


def test_r13_spawn_cycle_does_not_hang() -> None:
    r1 = run("j", "r1", spawned_by="agent:a:subagent:c")
    v = decide([base("j", "r2"), r1, sub("c", r1.key, "done")])
    assert v.dead == {r1.key: "superseded"}


def test_r13_only_exact_cron_run_keys_are_ever_dead() -> None:
    entries = [EntryFacts("agent:a:main", "m", 0, None, None),
               EntryFacts("agent:a:cron:j", "x", 0, None, None),
               EntryFacts("agent:a:cron:j:run:r:extra", "r", 0, None, None),
               EntryFacts("weird", None, None, None, None)]
    assert decide(entries).dead == {}


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["j1", "j2"]), st.sampled_from(["r1", "r2", "r3"]),
                          st.floats(0, 2 * DAY), st.sampled_from(["done", "running", None])),
                max_size=8, unique_by=lambda t: (t[0], t[1])),
       st.sets(st.sampled_from(["r1", "r2", "r3"])))
def test_r13_dead_and_protected_never_overlap(runs, finished_ids) -> None:
    entries = [base("j1", "r3")] + [run(j, r, age, s or "done") for j, r, age, s in runs]
    v = decide(entries, {"j1": frozenset(finished_ids)})
    assert not set(v.dead) & set(v.protected)
    assert all(":run:" in k for k in v.dead)


def test_r13_in_flight_restart_blocks_a_second_one() -> None:
    intents = {"act-1": {"id": "act-1", "action": "gateway_restart", "lease_until": 200,
                         "pid": 42}}
    assert restart_in_flight(intents, "gateway_restart", 100, {42: True})["id"] == "act-1"
    assert restart_in_flight(intents, "gateway_restart", 200, {42: True}) is None  # lease over
    assert restart_in_flight(intents, "gateway_restart", 100, {42: False}) is None  # owner died
    assert restart_in_flight(intents, "chain_freeze", 100, {42: True}) is None


def test_r14_reduction_is_judged_against_the_expected_band() -> None:
    assert reduction_pct(1000, 450) == 55.0
    assert judge_reduction(55.0, 50, 60) == "within"
    assert judge_reduction(20.0, 50, 60) == "below"
    assert judge_reduction(80.0, 50, 60) == "above"
    assert judge_reduction(None, 50, 60) == "unavailable"
    assert reduction_pct(None, 10) is None and reduction_pct(0, 10) is None


def _facts(before, after, outcome="done", ready=True, failed=None) -> RestartFacts:
    return RestartFacts("act-1", "memory high", True, outcome, failed, before, after, ready,
                        2.5, 10, "removed 3 dead cron run(s)", "the prune held", "removed 1")


def test_r14_lesson_states_the_reduction_and_the_expectation() -> None:
    title, body, numbers = lesson(_facts({"pid": 1, "tree_rss_bytes": 1000},
                                         {"pid": 2, "tree_rss_bytes": 300}), 50, 60)
    assert title == "Gateway restart freed 70% memory (expected 50-60%)"
    assert "above the expected 50-60% (R14)" in body
    assert numbers["verdict"] == "above" and numbers["metric"] == "tree RSS"


def test_r14_lesson_falls_back_to_the_cgroup_when_no_process_was_found() -> None:
    _, _, numbers = lesson(_facts({"cgroup_usage_bytes": 1000, "tree_rss_bytes": None},
                                  {"cgroup_usage_bytes": 450}), 50, 60)
    assert numbers["metric"] == "cgroup usage" and numbers["verdict"] == "within"


def test_r13_lesson_says_the_measurement_was_unavailable() -> None:
    title, body, numbers = lesson(_facts({"found": False, "error": "no process found"},
                                         {"found": False}), 50, 60)
    assert title == "Gateway restarted; memory reduction unavailable"
    assert "measurement unavailable (before): no process found" in body
    assert numbers["reduction_pct"] is None


def test_r13_failed_restart_lesson_names_the_step() -> None:
    title, body, _ = lesson(_facts({"tree_rss_bytes": 5}, None, "failed", False, "7 confirm"), 50, 60)
    assert title == "Gateway restart failed at 7 confirm"
    assert "not confirmed ready" in body
