"""Where the file-era gateway keeps finished cron runs and subagent runs: JSON files
in earlier releases, `state/openclaw.sqlite` by 2026.7.1 (read-only here)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from benchmarks.storegen import generate
from ctoops.actions.dead_runs import prune_dead_runs
from ctoops.config import load_config
from ctoops.probes.openclaw.run_facts import read_finished_runs, read_subagent_runs
from tests.restart.helpers import tree_hashes

# The columns ctoops reads, as openclaw@2026.7.1 declares them (the rest omitted).
SCHEMA = """
CREATE TABLE cron_run_logs (store_key TEXT NOT NULL, job_id TEXT NOT NULL, seq INTEGER NOT NULL,
  ts INTEGER NOT NULL, status TEXT, session_id TEXT, session_key TEXT, run_id TEXT,
  entry_json TEXT NOT NULL, created_at INTEGER NOT NULL, PRIMARY KEY (store_key, job_id, seq));
CREATE TABLE subagent_runs (run_id TEXT NOT NULL PRIMARY KEY, child_session_key TEXT NOT NULL,
  controller_session_key TEXT, requester_session_key TEXT NOT NULL, ended_at INTEGER,
  payload_json TEXT NOT NULL DEFAULT '{}');
"""


def state_db(state: Path) -> sqlite3.Connection:
    (state / "state").mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(state / "state" / "openclaw.sqlite")
    con.executescript(SCHEMA)
    return con


def test_r13_finished_runs_come_from_the_run_logs_and_the_state_database(tmp_path: Path) -> None:
    state = tmp_path / "state"
    (state / "cron" / "runs").mkdir(parents=True)
    (state / "cron" / "runs" / "j1.jsonl").write_text(
        json.dumps({"action": "finished", "jobId": "j1", "sessionId": "a"}) + "\n"
        + json.dumps({"action": "started", "jobId": "j1", "sessionId": "not-finished"}) + "\n"
        + '{"action": "finished", "jobId": "j1", "sess')  # torn while appended
    con = state_db(state)
    con.executemany("INSERT INTO cron_run_logs VALUES (?, ?, ?, 1, 'ok', ?, ?, ?, '{}', 1)", [
        ("jobs.json", "j1", 1, "b", None, None),
        ("jobs.json", "j2", 1, None, "agent:x:cron:j2:run:c", None),
        ("jobs.json", "j2", 2, None, None, "d"),
        ("jobs.json", "other", 1, "e", None, None)])
    con.commit()
    con.close()
    before = tree_hashes(state)
    finished = read_finished_runs(state, {"j1", "j2", "../evil"})
    assert finished.by_job == {"j1": frozenset({"a", "b"}),
                               "j2": frozenset({"agent:x:cron:j2:run:c", "d"})}
    assert any("not a safe file name" in p for p in finished.problems)
    assert tree_hashes(state) == before  # read-only: not even a -wal or -shm appears


def test_r13_subagent_runs_come_from_both_registries(tmp_path: Path) -> None:
    state = tmp_path / "state"
    (state / "subagents").mkdir(parents=True)
    (state / "subagents" / "runs.json").write_text(json.dumps({"version": 2, "runs": {
        "r1": {"childSessionKey": "c1", "requesterSessionKey": "p1", "startedAt": 1},
        "r2": {"childSessionKey": "c2", "requesterSessionKey": "p2", "endedAt": 5}}}))
    con = state_db(state)
    con.executemany("INSERT INTO subagent_runs VALUES (?, ?, ?, ?, ?, '{}')", [
        ("r3", "c3", "ctl3", "p3", None), ("r4", "c4", None, "p4", 99)])
    con.commit()
    con.close()
    runs = read_subagent_runs(state)
    assert runs.known
    assert runs.running_child_keys == {"c1", "c3"}
    assert set(runs.edges) == {("p1", "c1"), ("p2", "c2"), ("p3", "c3"), ("ctl3", "c3"),
                               ("p4", "c4")}


def test_r13_unreadable_registry_is_reported_as_unknown(tmp_path: Path) -> None:
    state = tmp_path / "state"
    (state / "state").mkdir(parents=True)
    (state / "state" / "openclaw.sqlite").write_bytes(b"not a database at all" * 100)
    runs = read_subagent_runs(state)
    assert not runs.known and "not readable" in runs.problem
    finished = read_finished_runs(state, {"j"})
    assert finished.by_job == {} and finished.problems


def test_r13_prune_uses_run_logs_kept_in_the_state_database(tmp_path: Path) -> None:
    """As after 2026.7.1 moved the logs: the same dead runs go."""
    gen = generate(tmp_path / "state", agents=("main",), jobs=4, runs_per_job=12, groups=2,
                   blob_min=300, blob_max=600)
    con = state_db(gen.state_dir)
    seq = 0
    for job, lines in gen.finished.items():
        (gen.state_dir / "cron" / "runs" / f"{job}.jsonl").unlink()
        for line in lines:
            seq += 1
            con.execute("INSERT INTO cron_run_logs VALUES ('jobs.json', ?, ?, 1, 'ok', ?, ?, ?, ?, 1)",
                        (job, seq, line.get("sessionId"), line.get("sessionKey"),
                         line.get("runId"), json.dumps(line)))
    con.commit()
    con.close()
    step = prune_dead_runs(load_config(None), str(gen.state_dir), gen.now_ms, dry_run=False)
    store = gen.stores["main"]
    assert set(step.stores[0].removed_keys) == store.dead
    assert store.path.read_bytes() == store.expected_after_prune()
