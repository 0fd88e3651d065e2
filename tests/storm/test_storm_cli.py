"""`ctoops retry-storm` end to end (R4, R20, R21, R25): real log files, real state,
each run a separate ctoops process; time moves through CTOOPS_FAKE_NOW."""

from __future__ import annotations

import json
import sqlite3

from tests.sessions import openclaw_schemas
from tests.storm.conftest import DAY, T0, StormWs
from tests.storm.storm_loggen import append, errors, gateway_line, log_name


def storm_json(ws: StormWs, at: float, *extra: str) -> tuple[int, dict]:
    ran = ws.run("--json", *extra, "retry-storm", at=at)
    assert ran.stdout, ran.stderr
    return ran.returncode, ran.json()


def chain_freezes(ws: StormWs) -> list[dict]:
    path = ws.root / "logs" / "cto-ops-audit.log"
    return [r for r in map(json.loads, path.read_text().splitlines())
            if r["action"] == "chain_freeze" and r["outcome"] == "done"]


def test_r20_a_burst_freezes_chains_within_one_run_and_says_why_and_until_when(
        storm_ws: StormWs) -> None:
    log = storm_ws.logs / log_name(DAY)
    append(log, gateway_line(T0 - 100, "INFO", "gateway ready", "gateway"))
    append(log, errors(T0 - 30, 12))
    code, out = storm_json(storm_ws, T0)
    assert code == 2 and out["status"] == "CRITICAL"
    (act,) = out["actions"]
    assert act["outcome"] == "done" and act["scope"] == "global" and act["until"] == T0 + 1800
    assert "12 x 'agent: provider request req_<id> failed: HTTP <n> after <n> ms'" in act["reason"]
    assert out["fingerprints"][0]["count"] == 12
    assert out["fingerprints"][0]["sample"].startswith("provider request req_")
    gate = storm_ws.run("gate", "chain", at=T0 + 5)
    assert gate.returncode == 1
    assert "2026-11-30T12:30:00.000Z" in gate.stdout and "retry storm" in gate.stdout
    assert storm_ws.run("gate", "chain", "--job", "any", at=T0 + 5).returncode == 1
    assert storm_ws.run("gate", "spawn", at=T0 + 5).returncode == 0
    status = storm_ws.run("--json", "status", at=T0 + 6).json()
    assert status["freezes"]["global"]["until"] == T0 + 1800
    state = storm_ws.state()
    (review,) = [r for r in state["review_events"] if r["key"] == "retry-storm:global"]
    assert review["status"] == "open" and review["kind"] == "retry_storm"
    (alert,) = storm_ws.notices()
    assert alert["kind"] == "retry_storm:global" and alert["active"] is True
    (audited,) = chain_freezes(storm_ws)
    assert audited["outcome"] == "done" and audited["auto"] is True
    assert storm_ws.run("audit", "verify", at=T0 + 7).returncode == 0


def test_r20_a_persisting_storm_neither_stacks_freezes_nor_repeats_alerts(
        storm_ws: StormWs) -> None:
    log = storm_ws.logs / log_name(DAY)
    append(log, errors(T0 - 30, 10))
    assert storm_json(storm_ws, T0)[0] == 2
    for minute in (1, 2, 3):
        append(log, errors(T0 + 60 * minute - 30, 10))
        code, out = storm_json(storm_ws, T0 + 60 * minute)
        assert code == 2 and out["actions"] == [] and out["summary"].startswith("STORM: chain frozen")
    assert len(chain_freezes(storm_ws)) == 1
    assert len(storm_ws.notices()) == 1
    assert list(storm_ws.state()["freezes"]) == ["global"]


def test_r20_the_freeze_ends_by_itself_and_a_quiet_half_open_run_resolves_it(
        storm_ws: StormWs) -> None:
    append(storm_ws.logs / log_name(DAY), errors(T0 - 30, 10))
    assert storm_json(storm_ws, T0)[0] == 2
    code, out = storm_json(storm_ws, T0 + 1799)  # still frozen: nothing resolved
    assert code == 2 and out["actions"] == []
    assert storm_ws.run("gate", "chain", at=T0 + 1800).returncode == 0  # ended by itself
    code, out = storm_json(storm_ws, T0 + 1800)  # the half-open run: quiet
    assert code == 0 and [a["action"] for a in out["actions"]] == ["unfreeze"]
    assert out["summary"].startswith("resolved")
    state = storm_ws.state()
    assert state["freezes"] == {}
    assert [r["status"] for r in state["review_events"]] == ["closed"]
    assert [n["active"] for n in storm_ws.notices()] == [True, False]
    assert "retry storm over (global)" in (storm_ws.root / "memory" / "lessons.md").read_text()
    assert storm_ws.run("gate", "chain", at=T0 + 1801).returncode == 0
    assert storm_json(storm_ws, T0 + 1900)[0] == 0


def test_r20_a_storm_that_goes_on_is_frozen_again_for_twice_as_long(storm_ws: StormWs) -> None:
    log = storm_ws.logs / log_name(DAY)
    append(log, errors(T0 - 30, 10))
    assert storm_json(storm_ws, T0)[0] == 2
    append(log, errors(T0 + 1770, 10))
    code, out = storm_json(storm_ws, T0 + 1800)
    (act,) = out["actions"]
    assert code == 2 and act["action"] == "refreeze" and act["level"] == 2
    assert act["until"] == T0 + 1800 + 3600
    assert storm_ws.run("gate", "chain", at=T0 + 1801).returncode == 1
    assert len(storm_ws.notices()) == 1  # within the reminder interval: no second alert
    assert [r["status"] for r in storm_ws.state()["review_events"]] == ["open"]
    code, out = storm_json(storm_ws, T0 + 5400)
    assert code == 0 and out["actions"][0]["action"] == "unfreeze"
    assert storm_ws.run("gate", "chain", at=T0 + 5401).returncode == 0


def test_r4_the_cursor_and_the_window_survive_restarts_of_ctoops(storm_ws: StormWs) -> None:
    log = storm_ws.logs / log_name(DAY)
    append(log, errors(T0 - 30, 6))
    code, out = storm_json(storm_ws, T0)
    assert code == 1 and out["new_events"] == 6
    code, out = storm_json(storm_ws, T0 + 60)
    assert code == 1 and out["new_events"] == 0 and out["sources"][0]["bytes_read"] == 0
    assert out["fingerprints"][0]["count"] == 6  # remembered, not re-read
    append(log, errors(T0 + 90, 4))
    code, out = storm_json(storm_ws, T0 + 120)
    assert code == 2 and out["new_events"] == 4 and out["actions"][0]["outcome"] == "done"


def test_r4_corrupt_log_lines_are_skipped_with_a_count(storm_ws: StormWs) -> None:
    append(storm_ws.logs / log_name(DAY),
           errors(T0 - 10, 2) + b"\xff\xfe\xfd garbage\n" + b'{"broken": \n' + errors(T0 - 5, 1))
    ran = storm_ws.run("retry-storm", at=T0)
    assert ran.returncode == 0
    assert "skipped 2 line(s) that were not valid UTF-8 JSON" in ran.stderr


def test_r4_missing_sources_are_notes_not_failures(storm_ws: StormWs) -> None:
    storm_ws.configure(sources=["gateway_log", "journal", "cron", "events"],
                       journal_directory=str(storm_ws.root / "no-journal"))
    code, out = storm_json(storm_ws, T0)
    assert code == 0 and out["status"] == "OK"
    assert {s["name"]: s["status"] for s in out["sources"]} == {
        "gateway_log": "absent", "journal": "absent", "cron": "absent", "events": "absent"}


def test_r4_events_file_errors_can_make_a_storm(storm_ws: StormWs) -> None:
    lines = b"".join((json.dumps({"ts": T0 - 20 + i, "source": "mc-runner",
                                  "message": f"task t-{i} stalled after {i * 7} s"}) + "\n").encode()
                     for i in range(10))
    (storm_ws.root / "memory").mkdir(exist_ok=True)
    (storm_ws.root / "memory" / "events.jsonl").write_bytes(lines)
    code, out = storm_json(storm_ws, T0)
    assert code == 2 and "mc-runner: task t-<n> stalled after <n> s" in out["actions"][0]["reason"]


def test_r20_dry_run_freezes_nothing(storm_ws: StormWs) -> None:
    append(storm_ws.logs / log_name(DAY), errors(T0 - 30, 10))
    code, out = storm_json(storm_ws, T0, "--dry-run")
    assert code == 2 and out["actions"][0]["outcome"] == "dry_run"
    assert storm_ws.run("gate", "chain", at=T0 + 1).returncode == 0
    assert storm_ws.notices() == []


def sqlite_jobs(ws: StormWs, failing: dict[str, int]) -> None:
    db = ws.state_dir / "state" / "openclaw.sqlite"
    db.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.executescript(openclaw_schemas.STATE_DB_2026_9_6)
    for job_id, n in failing.items():
        conn.execute(
            "INSERT INTO cron_jobs (store_key, job_id, name, enabled, payload_kind, job_json, "
            "state_json, updated_at) VALUES ('k', ?, ?, 1, 'agentTurn', '{}', ?, 0)",
            (job_id, f"job {job_id}", json.dumps({"consecutiveErrors": n, "lastRunStatus": "error",
                                                  "lastError": f"{job_id} exit 3"})))
    conn.commit()
    conn.close()


def test_r25_the_kill_switch_holds_a_third_freeze_until_a_person_approves(
        storm_ws: StormWs) -> None:
    sqlite_jobs(storm_ws, {"a": 5, "b": 6, "c": 7})
    ran = storm_ws.run("retry-storm", at=T0)
    assert ran.returncode == 2
    assert "chain FROZEN (job:a)" in ran.stdout and "chain FROZEN (job:b)" in ran.stdout
    assert "freeze HELD for approval" in ran.stdout and "NOT applied" in ran.stdout
    assert storm_ws.run("gate", "chain", "--job", "a", at=T0 + 1).returncode == 1
    assert storm_ws.run("gate", "chain", "--job", "c", at=T0 + 1).returncode == 0
    assert storm_ws.run("gate", "chain", at=T0 + 1).returncode == 0  # job scopes only
    (pending,) = storm_ws.run("--json", "approvals", "list", at=T0 + 2).json()["approvals"]
    assert pending["action"] == "chain_freeze" and pending["args"]["scope"] == "job:c"
    code, out = storm_json(storm_ws, T0 + 60)  # still held: not asked again
    assert code == 2 and out["actions"] == [] and out["held"][0]["status"] == "pending"
    assert len(storm_ws.run("--json", "approvals", "list", at=T0 + 61).json()["approvals"]) == 1
    ok = storm_ws.run("approvals", "approve", pending["id"], "--reason", "job c is looping",
                      at=T0 + 120)
    assert ok.returncode == 0, ok.stderr
    assert storm_ws.run("gate", "chain", "--job", "c", at=T0 + 121).returncode == 1
    freezes = storm_ws.state()["freezes"]
    assert freezes["job:c"]["until"] == T0 + 120 + 1800 and freezes["job:c"]["approval_id"]


def test_r20_file_era_job_errors_freeze_only_that_job(storm_ws: StormWs) -> None:
    (storm_ws.state_dir / "cron").mkdir()
    (storm_ws.state_dir / "cron" / "jobs.json").write_text(json.dumps({"version": 1, "jobs": [
        {"id": "legacy-1", "state": {"consecutiveErrors": 5, "lastStatus": "error",
                                     "lastError": "quota exceeded"}}]}))
    code, out = storm_json(storm_ws, T0)
    assert code == 2 and out["actions"][0]["scope"] == "job:legacy-1"
    assert storm_ws.run("gate", "chain", "--job", "legacy-1", at=T0 + 1).returncode == 1
    assert storm_ws.run("gate", "chain", "--job", "other", at=T0 + 1).returncode == 0
    code, out = storm_json(storm_ws, T0 + 60)  # same count: no new freeze
    assert code == 2 and out["actions"] == []
    code, out = storm_json(storm_ws, T0 + 1800)  # no new errors since: resolved
    assert code == 1  # no storm now, but the job still fails: WARNING until it succeeds
    assert out["actions"][0]["action"] == "unfreeze"
    assert storm_ws.run("gate", "chain", "--job", "legacy-1", at=T0 + 1801).returncode == 0


def test_r4_an_unknown_source_in_the_config_names_the_key(storm_ws: StormWs) -> None:
    storm_ws.configure(sources=["gateway_log", "syslog"])
    ran = storm_ws.run("config", "validate", at=T0)
    assert ran.returncode == 78 and "retry_storm" in ran.stderr and "syslog" in ran.stderr
    assert storm_ws.run("retry-storm", at=T0).returncode == 3


class _RacingClock:
    """A clock whose first reading lets another, complete retry-storm run (a real
    child process) slip in between this run's cursor snapshot and its commit."""

    def __init__(self, ws: StormWs, at: float) -> None:
        self.ws, self.at, self.raced = ws, at, False

    def now(self) -> float:
        if not self.raced:
            self.raced = True
            assert self.ws.run("retry-storm", at=self.at).returncode == 1
        return self.at


def test_r29_an_overlapping_run_never_counts_the_same_lines_twice(storm_ws: StormWs) -> None:
    from ctoops.commands import retry_storm
    from ctoops.context import Context

    append(storm_ws.logs / log_name(DAY), errors(T0 - 30, 6))
    ctx = Context(command="retry-storm", root_option=str(storm_ws.root), json=True,
                  clock=_RacingClock(storm_ws, T0))
    report = retry_storm.run(ctx)
    assert report.data["overlapped"] is True and report.data["new_events"] == 0
    assert report.data["fingerprints"][0]["count"] == 6  # not 12
    assert report.exit_code == 1
    code, out = storm_json(storm_ws, T0 + 1)
    assert code == 1
    assert out["fingerprints"][0]["count"] == 6 and out["new_events"] == 0


def test_r27_a_hand_edited_retry_storm_memory_starts_afresh_without_a_crash(
        storm_ws: StormWs) -> None:
    append(storm_ws.logs / log_name(DAY), errors(T0 - 30, 3))
    assert storm_json(storm_ws, T0)[0] == 0
    path = storm_ws.root / "memory" / "orchestration-state.json"
    state = json.loads(path.read_text())
    state["commands"]["retry-storm"] = {"fingerprints": [1, 2], "jobs": "x", "held": {"g": 3},
                                        "cursors": {"gateway_log": {"file": 5}}, "generation": "?"}
    path.write_text(json.dumps(state))
    append(storm_ws.logs / log_name(DAY), errors(T0 + 10, 10))
    code, out = storm_json(storm_ws, T0 + 30)
    assert code == 2 and out["actions"][0]["outcome"] == "done"
    path.write_text(json.dumps({**storm_ws.state(), "commands": {"retry-storm": "garbage"}}))
    assert storm_json(storm_ws, T0 + 60)[0] == 2  # still frozen: the freeze is kept apart
