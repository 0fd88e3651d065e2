"""The four dead-session rules, and the cases that must NOT be called dead (pure)."""

from __future__ import annotations

from ctoops.config import load_config
from ctoops.policy.dead_sessions import SessionIndex, judge
from ctoops.probes.openclaw.model import (
    AgentSessions,
    BootRecord,
    CronRunRecord,
    OpenClawSnapshot,
    SessionRecord,
    StateDbView,
    SubagentRun,
)
from tests.sessions.conftest import NOW_MS, NOW_S

CFG = load_config(None).sessions  # session_stall_s 900
STALE = NOW_MS - 2_000_000  # older than the stall limit
FRESH = NOW_MS - 10_000


def rec(key: str, status: str | None, updated: int | None, spawned_by: str | None = None,
        sid: str | None = "s1") -> SessionRecord:
    return SessionRecord(key, key.split(":")[1], sid, status, updated, spawned_by)


def snap(records=(), boots=(), pids=None, subagents=(), cron_runs=(), readable=True,
         agent="main") -> OpenClawSnapshot:
    agents = (AgentSessions(agent, "sqlite", "db", readable, len(records), {}, tuple(records)),)
    return OpenClawSnapshot("/x", True, agents, StateDbView(subagents=tuple(subagents),
                                                            boots=tuple(boots),
                                                            cron_runs=tuple(cron_runs)),
                            dict(pids or {}))


def verdict(s: OpenClawSnapshot, key: str, owner: int | None = None):
    return judge(key, SessionIndex.build(s), CFG, NOW_S, owner)


def test_r17_rule_store_status_failed_killed_timeout_are_dead():
    for status in ("failed", "killed", "timeout"):
        v = verdict(snap([rec("agent:main:subagent:a", status, FRESH)]), "agent:main:subagent:a")
        assert (v.state, v.rule) == ("dead", "store_status") and status in v.explanation


def test_r17_rule_missing_when_a_task_names_a_key_the_readable_store_lacks():
    v = verdict(snap([rec("agent:main:main", "running", FRESH)]), "agent:main:subagent:gone")
    assert (v.state, v.rule) == ("dead", "missing")


def test_r17_missing_is_not_claimed_when_that_agents_store_could_not_be_read():
    v = verdict(snap([], readable=False), "agent:main:subagent:gone")
    assert v.state == "unknown" and v.rule is None
    v = verdict(snap([]), "agent:other:subagent:gone")
    assert v.state == "unknown"


def test_r17_rule_owner_rebooted_stalled_running_session_with_a_boot_after_its_update():
    s = snap([rec("agent:main:subagent:a", "running", STALE)],
             boots=[BootRecord("b1", 10, STALE - 5000, None, None),
                    BootRecord("b2", 11, STALE + 1000, None, None)], pids={10: "dead", 11: "live"})
    v = verdict(s, "agent:main:subagent:a")
    assert (v.state, v.rule) == ("dead", "owner_rebooted") and "pid 11" in v.explanation


def test_r17_rule_owner_pid_dead_for_the_boot_that_was_up_at_its_last_update():
    s = snap([rec("agent:main:subagent:a", "running", STALE)],
             boots=[BootRecord("b1", 10, STALE - 5000, None, None)], pids={10: "dead"})
    v = verdict(s, "agent:main:subagent:a")
    assert (v.state, v.rule) == ("dead", "owner_pid_dead") and "pid 10" in v.explanation


def test_r17_rule_owner_pid_dead_for_the_tasks_own_execution_owner():
    s = snap([rec("agent:main:subagent:a", "running", STALE)], pids={4242: "dead"})
    v = verdict(s, "agent:main:subagent:a", owner=4242)
    assert (v.state, v.rule) == ("dead", "owner_pid_dead") and "execution owner" in v.explanation


def test_r17_stalled_session_with_live_or_unknown_owner_is_not_called_dead():
    live = snap([rec("agent:main:subagent:a", "running", STALE)],
                boots=[BootRecord("b1", 10, STALE - 5000, None, None)], pids={10: "live"})
    assert verdict(live, "agent:main:subagent:a").state == "stalled"
    unknown = snap([rec("agent:main:subagent:a", "running", STALE)])
    v = verdict(unknown, "agent:main:subagent:a")
    assert v.state == "stalled" and "unknown" in v.explanation


def test_r17_recently_updated_running_session_is_running_even_after_a_boot():
    s = snap([rec("agent:main:subagent:a", "running", FRESH)],
             boots=[BootRecord("b2", 11, NOW_MS - 1000, None, None)], pids={11: "live"})
    assert verdict(s, "agent:main:subagent:a").state == "running"


def test_r17_parent_waiting_on_a_running_descendant_is_not_dead():
    parent, child = "agent:main:main", "agent:main:subagent:kid"
    boots = [BootRecord("b2", 11, STALE + 1000, None, None)]
    s = snap([rec(parent, "running", STALE), rec(child, "running", FRESH, spawned_by=parent)],
             boots=boots, pids={11: "live"})
    v = verdict(s, parent)
    assert v.state == "running" and child in v.explanation
    via_ledger = snap([rec(parent, "running", STALE), rec(child, "running", FRESH)],
                      boots=boots, subagents=[SubagentRun("r", child, parent, "running", 1, None)])
    assert verdict(via_ledger, parent).state == "running"


def test_r17_cron_run_that_the_run_log_says_failed_is_dead_and_ok_is_done():
    key = "agent:main:cron:job1:run:run-a"
    failed = snap([rec(key, "running", FRESH, sid="run-a")], cron_runs=[CronRunRecord(
        "job1", "main", "run-a", key, "error", NOW_MS - 5, NOW_MS - 2, None, "boom")])
    v = verdict(failed, key)
    assert (v.state, v.rule) == ("dead", "store_status") and "boom" in v.explanation
    ok = snap([rec(key, "running", FRESH, sid="run-a")], cron_runs=[CronRunRecord(
        "job1", "main", "run-a", key, "ok", NOW_MS - 5, NOW_MS - 2)])
    assert verdict(ok, key).state == "done"


def test_r2_cron_receipt_running_with_a_dead_owner_is_listed():
    from ctoops.policy.dead_sessions import listing

    s = snap([], cron_runs=[CronRunRecord("job1", "main", "run9", None, "running", NOW_MS, None,
                                          4242)], pids={4242: "dead"})
    lines, _ = listing(s, {})
    assert [(risk, check) for risk, check, _ in lines if check == "cron_run_owner_dead"] == [
        ("low", "cron_run_owner_dead")]


def test_r3_gateway_owner_line_from_lease_and_boots():
    from ctoops.policy.dead_sessions import listing
    from ctoops.probes.openclaw.model import LeaseRecord

    stopped = snap([], boots=[BootRecord("b", 10, NOW_MS - 9000, NOW_MS - 5000, "clean_stop")])
    [line] = [x for x in listing(stopped, {})[0] if x[1] == "gateway_owner"]
    assert line[0] == "none" and "clean_stop" in line[2]
    s = snap([], pids={77: "dead"})
    s = OpenClawSnapshot(s.state_dir, True, s.agents, StateDbView(
        lease=LeaseRecord("o", 77, "h", 1, NOW_MS, NOW_MS)), {77: "dead"})
    [line] = [x for x in listing(s, {})[0] if x[1] == "gateway_owner"]
    assert line[0] == "low" and "77" in line[2]
