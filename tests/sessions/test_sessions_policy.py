"""P2 and the heartbeat judgement as pure functions of (snapshot, board, memory, now)."""

from __future__ import annotations

from ctoops.actions.board import BoardResult, BoardSnapshot, BoardTask
from ctoops.config import load_config
from ctoops.policy import heartbeat, sessions
from ctoops.probes.openclaw.model import (
    AgentSessions,
    HeartbeatRecord,
    OpenClawSnapshot,
    SessionRecord,
    StateDbView,
    TaskRun,
)
from tests.sessions.conftest import NOW_MS, NOW_S

CFG = load_config(None).sessions
DEAD_KEY, LIVE_KEY = "agent:main:subagent:dead", "agent:main:subagent:live"


def snap(records, tasks=(), heartbeats=(), main_beat=None) -> OpenClawSnapshot:
    agent = AgentSessions("main", "file", "s.json", True, len(records), {}, tuple(records),
                          main_beat)
    return OpenClawSnapshot("/x", True, (agent,), StateDbView(tasks=tuple(tasks),
                                                               heartbeats=tuple(heartbeats)), {})


def dead(sid="s1") -> SessionRecord:
    return SessionRecord(DEAD_KEY, "main", sid, "failed", NOW_MS - 5000)


def live(sid="s2") -> SessionRecord:
    return SessionRecord(LIVE_KEY, "main", sid, "running", NOW_MS - 1000)


def board(*tasks: BoardTask, readable: bool = True) -> BoardSnapshot:
    return BoardSnapshot("b.json", True, readable, tuple(tasks))


def task(status="in_progress", key=DEAD_KEY, tid="T1") -> BoardTask:
    return BoardTask(tid, status, key, "title")


def run(s, b, memory, now=NOW_S, results_outcome="done"):
    d = sessions.decide(s, b, memory, CFG, now)
    sessions.record_board_results(d.memory, [BoardResult(u.task_id, results_outcome)
                                             for u in d.updates])
    return d


def test_r17_r18_r19_in_progress_task_on_dead_session_moves_records_and_gets_a_policy():
    d = run(snap([dead()]), board(task()), {})
    [lost] = d.lost
    assert lost.new and lost.verdict.rule == "store_status"
    [update] = d.updates
    assert (update.task_id, update.set_status, update.expect_status) == ("T1", "review",
                                                                         "in_progress")
    assert update.ctoops["lost_session_key"] == DEAD_KEY
    assert update.ctoops["retry_policy"]["verdict"] == "retry_after"
    entry = d.memory["tasks"]["T1"]
    assert entry["losses"][0]["session_key"] == DEAD_KEY and entry["status"] == "awaiting_retry"
    assert [n.kind for n in d.notices] == ["task_lost:T1"]
    assert d.policies["T1"]["attempts"] == 1


def test_r17_same_lost_task_is_not_moved_counted_or_alerted_twice():
    first = run(snap([dead()]), board(task()), {})
    # the orchestrator (or a person) puts it back in progress on the same dead session
    again = run(snap([dead()]), board(task()), first.memory, NOW_S + 30)
    assert again.updates == [] and again.notices == []
    assert [x.new for x in again.lost] == [False]
    assert len(again.memory["tasks"]["T1"]["losses"]) == 1
    # and while it waits in review, nothing is re-sent either
    waiting = run(snap([dead()]), board(task("review")), first.memory, NOW_S + 40)
    assert waiting.notices == [] and waiting.lost == []


def test_r17_a_board_move_that_failed_is_retried_without_counting_again():
    first = run(snap([dead()]), board(task()), {}, results_outcome="failed")
    assert first.memory["tasks"]["T1"]["board_pending"] is True
    retry = run(snap([dead()]), board(task()), first.memory, NOW_S + 60)
    assert [u.set_status for u in retry.updates] == ["review"] and retry.notices == []
    assert len(retry.memory["tasks"]["T1"]["losses"]) == 1
    assert retry.memory["tasks"]["T1"]["board_pending"] is False


def test_r19_resumed_task_that_dies_again_is_a_second_attempt_with_doubled_backoff():
    first = run(snap([dead()]), board(task()), {})
    resumed = run(snap([live()]), board(task(key=LIVE_KEY)), first.memory, NOW_S + 100)
    assert resumed.memory["tasks"]["T1"]["status"] == "running"
    died = SessionRecord(LIVE_KEY, "main", "s2", "killed", NOW_MS + 150_000)
    second = run(snap([died]), board(task(key=LIVE_KEY)), resumed.memory, NOW_S + 200)
    [lost] = second.lost
    assert lost.new and lost.policy.attempts == 2 and lost.policy.backoff_s == 120


def test_r19_manual_cut_off_opens_a_review_event_and_an_urgent_alert():
    memory: dict = {}
    now = NOW_S
    for i in range(CFG.max_auto_retries + 1):
        key = f"agent:main:subagent:run{i}"
        d = run(snap([SessionRecord(key, "main", f"s{i}", "failed", int(now * 1000))]),
                board(task(key=key)), memory, now)
        memory = d.memory
        now += 10
    [lost] = d.lost
    assert lost.policy.verdict == "manual" and lost.policy.attempts == CFG.max_auto_retries + 1
    assert [r["kind"] for r in d.reviews] == ["task_manual_retry"]
    assert any(n.urgent and n.kind == "task_manual:T1" for n in d.notices)
    assert d.memory["tasks"]["T1"]["status"] == "manual"


def test_r19_waiting_policy_turns_retry_now_and_is_written_to_the_board_once():
    first = run(snap([dead()]), board(task()), {})
    later = run(snap([dead()]), board(task("review")), first.memory, NOW_S + 61)
    [update] = later.updates
    assert update.set_status is None and update.expect_status == "review"
    assert update.ctoops["retry_policy"]["verdict"] == "retry_now"
    again = run(snap([dead()]), board(task("review")), later.memory, NOW_S + 90)
    assert again.updates == [] and again.policies["T1"]["verdict"] == "retry_now"


def test_r17_ledger_running_task_without_a_board_task_is_put_on_the_board_in_review():
    ledger = TaskRun("L1", "running", DEAD_KEY, "main", "fix it", 1, 2, "boom")
    d = run(snap([dead()], tasks=[ledger]), board(), {})
    [update] = d.updates
    assert update.create is not None and update.create["openclaw_task_id"] == "L1"
    assert update.set_status == "review" and d.lost[0].policy.last_failures[0]["error"] == "boom"
    # next run the board has it (linked by id): the ledger's "running" is not a new task
    linked = BoardTask("L1", "review", DEAD_KEY, "fix it", "L1")
    nxt = run(snap([dead()], tasks=[ledger]), board(linked), d.memory, NOW_S + 10)
    assert nxt.lost == [] and nxt.notices == []


def test_r17_unreadable_board_means_no_board_changes_for_ledger_tasks():
    ledger = TaskRun("L1", "running", DEAD_KEY, "main", "x", 1, 2, None)
    d = run(snap([dead()], tasks=[ledger]), board(readable=False), {})
    assert d.updates == [] and d.lost == []


def test_r17_live_session_task_is_left_alone():
    d = run(snap([live()]), board(task(key=LIVE_KEY)), {})
    assert d.updates == [] and d.lost == [] and d.memory["tasks"] == {}


def test_r17_hand_edited_memory_of_the_wrong_shape_does_not_crash_the_decision():
    junk = {"tasks": {"T1": "oops", "T2": {"losses": "no"}, "T3": {"status": "awaiting_retry"}},
            "heartbeat_stale": ["x"]}
    d = run(snap([dead()]), board(task()), junk)
    assert d.lost[0].new and set(d.memory["tasks"]) == {"T1"}


def test_r3_stale_heartbeat_warns_and_alerts_then_resolves_once():
    beat = HeartbeatRecord("main", NOW_MS - 4000 * 1000, 1_800_000, True, "cron_job")
    s = snap([], heartbeats=[beat])
    first = heartbeat.decide_heartbeats(s, {}, CFG, NOW_S)
    assert [f.risk for f in first.findings] == ["medium"]
    assert [(n.condition, n.active) for n in first.notices] == [(True, True)]
    assert first.stale == {"main": NOW_S}
    fresh = snap([], heartbeats=[HeartbeatRecord("main", NOW_MS, 1_800_000, True, "cron_job")])
    back = heartbeat.decide_heartbeats(fresh, first.stale, CFG, NOW_S + 60)
    assert [(n.active, n.kind) for n in back.notices] == [(False, "heartbeat_stale:main")]
    assert back.stale == {}
    quiet = heartbeat.decide_heartbeats(fresh, back.stale, CFG, NOW_S + 120)
    assert quiet.notices == []


def test_r3_heartbeat_interval_from_the_job_else_config_and_file_era_main_entry():
    job = HeartbeatRecord("main", NOW_MS - 700 * 1000, 300_000, True, "cron_job")
    v = heartbeat.judge_heartbeat(job, CFG, NOW_S)
    assert v.limit_s == 600 and v.stale
    legacy = snap([], main_beat=NOW_MS - 3000 * 1000)
    [merged] = heartbeat.merged_heartbeats(legacy)
    assert merged.source == "main_entry"
    assert not heartbeat.judge_heartbeat(merged, CFG, NOW_S).stale  # 3000 s < 2 x 1800 s
    disabled = HeartbeatRecord("main", 1, 1000, False, "cron_job")
    assert not heartbeat.judge_heartbeat(disabled, CFG, NOW_S).stale
