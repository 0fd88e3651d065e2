"""Bad gateway stores, MC board and events file (issue 12): truncated, wrong-typed,
huge, non-UTF-8, deeply nested, a corrupt SQLite file, a database without its
table. Through `check sessions`, `retry-storm`, `safe-restart --dry-run` and a
real safe-restart (its prune included), each gives a finding or a clear error,
never a traceback, and nothing destructive: every gateway file, the board and
the events file stay byte-identical, and only the real safe-restart runs the
restart command. In process, hypothesis breaks the same files at random and the
readers and the prune must neither raise nor lose a kept session.

The baseline (gateway_fixture.py) is built so that its right prune is "nothing"
and one cron run survives only through the subagent registry: a reader that
drops a fact when it meets bad input shows up as a changed sessions.json.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ctoops.actions.dead_runs import prune_dead_runs
from ctoops.config import load_config
from ctoops.probes.openclaw.cron import read_cron
from ctoops.probes.openclaw.snapshot import read_snapshot
from ctoops.probes.openclaw.store_spans import StoreUnreadable, scan_bytes
from tests.conftest import write_config
from tests.faults import gateway_fixture as gw
from tests.faults.conftest import ForkServer, tree_bytes
from tests.sessions import openclaw_schemas as schemas

DEEP = b"[" * 5000 + b"]" * 5000
BIG_INT = b"9" * 400


# --- how to break each file ---------------------------------------------------------
def _json_edit(rel: str, fn: Callable[[dict], object]) -> Callable[[Path], None]:
    def mutate(sd: Path) -> None:
        path = sd / rel
        path.write_bytes(json.dumps(fn(json.loads(path.read_bytes()))).encode())
    return mutate


def _raw(rel: str, fn: Callable[[bytes], bytes]) -> Callable[[Path], None]:
    def mutate(sd: Path) -> None:
        path = sd / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(fn(path.read_bytes() if path.exists() else b""))
    return mutate


def _set(doc: dict, path: list[str], value: object) -> dict:
    node = doc
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return doc


def _raw_set(rel: str, path: list[str], raw_value: bytes) -> Callable[[Path], None]:
    """Put a raw JSON token (NaN, a 400-digit number, deep nesting) at a path."""
    marker = "@@RAW@@"

    def mutate(sd: Path) -> None:
        p = sd / rel
        doc = _set(json.loads(p.read_bytes()), path, marker)
        p.write_bytes(json.dumps(doc).encode().replace(f'"{marker}"'.encode(), raw_value))
    return mutate


def _state_db(sd: Path, ddl: str, rows: list[tuple[str, dict]], user_version: int = 18) -> None:
    gw.sqlite_db(sd / gw.PATHS["state_db"], ddl, rows, user_version)


def _good_state_db(sd: Path) -> None:
    from tests.sessions.openclaw_gen import heartbeat_job, make_state_db

    make_state_db(sd, heartbeat_jobs=[heartbeat_job("main", gw.NOW_MS - 60_000)])


def _corrupt_db(rel: str, make: Callable[[Path], None]) -> Callable[[Path], None]:
    def mutate(sd: Path) -> None:
        make(sd)
        path = sd / rel
        data = bytearray(path.read_bytes())
        data[100:len(data) - 100] = os.urandom(len(data) - 200)  # header kept, pages garbage
        path.write_bytes(bytes(data))
    return mutate


def _truncate_db(rel: str, make: Callable[[Path], None]) -> Callable[[Path], None]:
    def mutate(sd: Path) -> None:
        make(sd)
        path = sd / rel
        path.write_bytes(path.read_bytes()[:1500])
    return mutate


def _agent_db(sd: Path, ddl: str | None = None, status_hex: str | None = None) -> None:
    from tests.sessions.openclaw_gen import make_agent_db, session_row

    path = make_agent_db(sd, [session_row("agent:ops:main", "running", gw.NOW_MS - 1000)],
                         agent="ops", ddl=ddl)
    if status_hex:  # text that is not UTF-8, as a buggy writer could leave it
        con = sqlite3.connect(path)
        with con:
            con.execute(f"UPDATE session_nodes SET current_session_id = CAST(X'{status_hex}' AS TEXT)")
        con.close()


_CRON_DDL = "CREATE TABLE cron_jobs (job_id TEXT, name TEXT, enabled INTEGER, state_json);"
S, R, J, L = gw.PATHS["sessions"], gw.PATHS["registry"], gw.PATHS["jobs"], gw.PATHS["run_log"]
CASES: dict[str, Callable[[Path], None]] = {
    # sessions.json
    "sessions_truncated": _raw(S, lambda b: b[: len(b) // 2]),
    "sessions_empty": _raw(S, lambda b: b""),
    "sessions_non_utf8": _raw(S, lambda b: b.replace("café".encode(), b"caf\xe9")),
    "sessions_bom": _raw(S, lambda b: b"\xef\xbb\xbf" + b),
    "sessions_top_list": _raw(S, lambda b: b"[" + b + b"]"),
    "sessions_duplicate_key": _raw(S, lambda b: b[:-2] + b',\n  "agent:main:main": {}\n}'),
    "sessions_nan": _raw_set(S, [gw.R1, "updatedAt"], b"NaN"),
    "sessions_huge_number": _raw_set(S, [gw.R1, "updatedAt"], BIG_INT),
    "sessions_deep_value": _raw_set(S, [gw.R1, "skillsSnapshot"], DEEP),
    "sessions_entry_wrong_type": _json_edit(S, lambda d: _set(d, [gw.R1], "garbage")),
    "sessions_fields_wrong_type": _json_edit(S, lambda d: _set(d, [gw.R2], {
        "sessionId": 7, "updatedAt": "yesterday", "status": ["running"], "spawnedBy": {}})),
    # subagents/runs.json: every break must keep run r1 (its child may be running)
    "registry_truncated": _raw(R, lambda b: b[: len(b) // 2]),
    "registry_non_utf8": _raw(R, lambda b: b.replace(b"agent:main:subagent", b"agent:m\xe9")),
    "registry_deep": _raw(R, lambda b: DEEP),
    "registry_top_list": _raw(R, lambda b: b"[" + b + b"]"),
    "registry_runs_list": _json_edit(R, lambda d: _set(d, ["runs"], [d["runs"]])),
    "registry_run_string": _json_edit(R, lambda d: _set(d, ["runs", "sr1"], "garbage")),
    "registry_child_int": _json_edit(R, lambda d: _set(d, ["runs", "sr1", "childSessionKey"], 5)),
    "registry_ended_text": _json_edit(R, lambda d: _set(d, ["runs", "sr1", "endedAt"], "soon")),
    "registry_ended_huge": _raw_set(R, ["runs", "sr1", "endedAt"], BIG_INT),
    "registry_huge_file": _raw(R, lambda b: b'{"pad": "' + b"x" * (33 << 20) + b'", ' + b[1:]),
    # cron/jobs.json and the run logs
    "jobs_truncated": _raw(J, lambda b: b[: len(b) // 2]),
    "jobs_deep": _raw(J, lambda b: DEEP),
    "jobs_non_utf8": _raw(J, lambda b: b.replace(b"nightly", b"nightl\xff")),
    "jobs_is_dict": _json_edit(J, lambda d: _set(d, ["jobs"], {"nightly": d["jobs"][0]})),
    "jobs_state_wrong_types": _json_edit(J, lambda d: _set(d, ["jobs", 0, "state"], {
        "consecutiveErrors": "many", "lastRunAtMs": "now", "lastError": ["x"]})),
    "jobs_huge_numbers": _raw_set(J, ["jobs", 1, "state", "lastRunAtMs"], BIG_INT),
    "jobs_nan": _raw_set(J, ["jobs", 0, "state", "lastRunAtMs"], b"NaN"),
    "run_log_garbage": _raw(L, lambda b: b + b'{"action": "finished", "ts": ' + BIG_INT
                            + b'}\n' + DEEP + b"\n\xff\xfe\n" + b'{"action": "fini'),
    # the early-2026 sidecar lock, with junk in it
    "sidecar_junk": _raw(gw.PATHS["sidecar"], lambda b: b"\xff not json " + DEEP),
    # state/openclaw.sqlite
    "state_db_random_bytes": _raw(gw.PATHS["state_db"], lambda b: b"SQLite format 3\x00"
                                  + os.urandom(4000)),
    "state_db_corrupt_pages": _corrupt_db(gw.PATHS["state_db"], _good_state_db),
    "state_db_truncated": _truncate_db(gw.PATHS["state_db"], _good_state_db),
    "state_db_no_tables": lambda sd: _state_db(sd, "CREATE TABLE unrelated (x);", []),
    "state_db_cron_missing_columns": lambda sd: _state_db(sd, "CREATE TABLE cron_jobs (job_id);",
                                                          [("cron_jobs", {"job_id": "j"})]),
    "state_db_wrong_typed_cells": lambda sd: _state_db(sd, _CRON_DDL, [
        ("cron_jobs", {"job_id": "a", "name": "a", "enabled": 1, "state_json": b"\xff\x00"}),
        ("cron_jobs", {"job_id": "b", "name": "b", "enabled": 1, "state_json": 42}),
        ("cron_jobs", {"job_id": "c", "name": "c", "enabled": 1, "state_json": DEEP.decode()}),
        ("cron_jobs", {"job_id": "d", "name": "d", "enabled": 1,
                       "state_json": '{"consecutiveErrors": "x", "lastRunAtMs": 1e400}'})]),
    "state_db_bad_payloads": lambda sd: _state_db(sd, schemas.STATE_DB_2026_9_6, [
        ("subagent_runs", {"run_id": "x", "child_session_key": gw.S1, "created_at": 1,
                           "payload_json": DEEP.decode(), "requester_session_key": gw.R1})]),
    # an SQLite-era agent beside the file-era one
    "agent_db_corrupt": _corrupt_db(gw.PATHS["agent_db"], _agent_db),
    "agent_db_no_table": lambda sd: gw.sqlite_db(sd / gw.PATHS["agent_db"],
                                                 "CREATE TABLE session_nodes_v0 (x);", [], 23),
    "agent_db_non_utf8_text": lambda sd: _agent_db(sd, status_hex="72756e6eff696e67"),
}
BOARD_CASES: dict[str, bytes] = {
    "board_truncated": json.dumps(gw.board()).encode()[:40],
    "board_deep": DEEP,
    "board_non_utf8": json.dumps(gw.board()).encode().replace(b"nightly", b"nightl\xe9"),
    "board_tasks_dict": json.dumps({"version": 1, "tasks": {"T1": {}}}).encode(),
    "board_task_wrong_types": json.dumps({"version": 1, "tasks": [
        {"id": ["T1"], "status": 3}, "T2", None, {"id": "T3", "status": "in_progress",
                                                  "session_key": 5}]}).encode(),
    "board_duplicate_ids": json.dumps({"version": 1, "tasks": [
        {"id": "T1", "status": "in_progress", "session_key": gw.R1},
        {"id": "T1", "status": "in_progress", "session_key": gw.R1}]}).encode(),
    "board_huge": b'{"version": 1, "pad": "' + b"x" * (17 << 20) + b'", "tasks": []}',
}
EVENTS_CASES: dict[str, bytes] = {
    "events_garbage": (b'{"message": "torn' + b"\n\xff\xfe\x00\n" + DEEP + b"\n"
                       + b'{"message": 5}\n["not", "an", "object"]\n'
                       + b'{"message": "boom", "ts": ' + BIG_INT + b'}\n'
                       + b'{"message": "boom", "ts": NaN, "level": "error"}\n'
                       + b'{"message": "boom", "ts": "0001-01-01T00:00:00"}\n'
                       + b'{"message": "boom", "ts": "9999-12-31T23:59:59-23:59"}\n'
                       + b'{"message": "boom", "level": ["error"], "job": 5}\n'),
}
# Which file a finding (or a stderr note) must name, per command and case prefix.
# (A value of the wrong type inside a well-formed file is ignored where it is read,
# conservatively, and not always named: those cases only must not crash or change.)
_STRUCTURE = ("truncated", "empty", "non_utf8", "bom", "top_list", "duplicate", "deep",
              "runs_list", "run_string", "child_int", "huge_file", "is_dict", "random_bytes",
              "corrupt", "missing_columns", "no_table", "tasks_dict", "task_wrong", "huge",
              "garbage", "nan")
MENTIONS = {"check sessions": {"sessions_": "sessions.json", "registry_": "runs.json",
                               "jobs_": "jobs.json", "state_db_": "openclaw.sqlite",
                               "agent_db_": "openclaw-agent.sqlite", "board_": "mc-board.json"},
            "retry-storm": {"jobs_": "jobs.json", "state_db_random": "openclaw.sqlite",
                            "state_db_corrupt": "openclaw.sqlite",
                            "state_db_truncated": "openclaw.sqlite", "events_": "events"}}
QUIET = {"jobs_nan", "registry_ended_huge", "jobs_huge_numbers", "sessions_huge_number", "state_db_no_tables",
         "state_db_cron_missing_columns", "board_duplicate_ids"}


@pytest.fixture
def gateway_ws(tmp_path: Path, ready_gateway_url: str) -> tuple[Path, Path]:
    root, state_dir = tmp_path / "ws", tmp_path / "openclaw"
    gw.build(state_dir)
    write_config(root, gw.workspace_config(root, state_dir, ready_gateway_url,
                                           tmp_path / "restarts.txt"))
    (root / "memory").mkdir(parents=True)
    (root / "memory" / "mc-board.json").write_text(json.dumps(gw.board(), indent=2))
    (root / "logs").mkdir()
    (root / "logs" / "events.jsonl").write_bytes(gw.events())
    return root, state_dir


def _run_all(fork: ForkServer, root: Path, case: str) -> dict[str, str]:
    """The four commands; each must end cleanly; returns each one's findings and
    stderr notes, as text."""
    env = {"CTOOPS_FAKE_NOW": str(gw.NOW_S)}
    printed = {}
    for name, argv, codes in (
            ("check sessions", ["--json", "check", "sessions"], (0, 1, 2)),
            ("retry-storm", ["--json", "retry-storm"], (0, 1, 2)),
            ("dry-run", ["--json", "--dry-run", "safe-restart", "--reason", "drill"], (0,)),
            ("safe-restart", ["--json", "safe-restart", "--reason", "drill"], (0,))):
        ran = fork.cli("--root", str(root), *argv, env=env)
        text = ran.stdout + ran.stderr
        assert ran.returncode in codes, (case, name, ran.returncode, text[-3000:])
        assert "Traceback" not in text and "a bug in ctoops" not in text, (case, name, text[-3000:])
        assert "crashed" not in ran.stdout, (case, name, ran.stdout[-3000:])
        report = ran.json()  # one JSON document on stdout
        printed[name] = "\n".join(f["message"] for f in report.get("findings", [])) + \
            "\n" + ran.stderr
        if name == "check sessions":
            printed["readable"] = json.dumps({a["agent_id"]: a["readable"]
                                              for a in report["agents"]})
    return printed


def _expect_mentions(case: str, printed: dict[str, str]) -> None:
    if case in QUIET or not any(word in case for word in _STRUCTURE):
        return
    for command, table in MENTIONS.items():
        for prefix, name in table.items():
            if case.startswith(prefix):
                assert name in printed[command], (case, command, printed[command][-3000:])


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_gateway_store_gives_a_finding_and_changes_nothing(
        gateway_ws: tuple[Path, Path], shared_forkserver: ForkServer, case: str) -> None:
    root, state_dir = gateway_ws
    CASES[case](state_dir)
    gateway_before = tree_bytes(state_dir)
    board_before = (root / "memory" / "mc-board.json").read_bytes()
    printed = _run_all(shared_forkserver, root, case)
    assert tree_bytes(state_dir) == gateway_before, "a gateway file changed"
    assert (root / "memory" / "mc-board.json").read_bytes() == board_before
    assert (root.parent / "restarts.txt").read_text() == "restart\n"  # the real one only
    _expect_mentions(case, printed)
    # A store the gateway itself would read as empty is not used at all. (A leading
    # BOM is skipped by check sessions' reader but refused by the prune's: left as is.)
    unreadable = case in {"sessions_truncated", "sessions_empty", "sessions_non_utf8",
                          "sessions_top_list", "sessions_nan", "sessions_deep_value"}
    assert json.loads(printed["readable"]).get("main") is (not unreadable), printed["readable"]


@pytest.mark.parametrize("case", sorted(BOARD_CASES) + sorted(EVENTS_CASES))
def test_bad_board_or_events_file_gives_a_finding_and_is_left_as_it_is(
        gateway_ws: tuple[Path, Path], shared_forkserver: ForkServer, case: str) -> None:
    root, state_dir = gateway_ws
    target = (root / "memory" / "mc-board.json" if case.startswith("board_")
              else root / "logs" / "events.jsonl")
    target.write_bytes({**BOARD_CASES, **EVENTS_CASES}[case])
    gateway_before, before = tree_bytes(state_dir), target.read_bytes()
    printed = _run_all(shared_forkserver, root, case)
    assert target.read_bytes() == before
    assert tree_bytes(state_dir) == gateway_before
    _expect_mentions(case, printed)


def test_the_baseline_would_show_a_lost_fact(tmp_path: Path) -> None:
    """The fixture is sensitive: with the registry saying the child ended, run r1 is
    pruned, so a reader that silently dropped the registry would change the store."""
    gw.build(tmp_path, gw.registry_ended())
    step = prune_dead_runs(load_config(None), str(tmp_path), gw.NOW_MS, dry_run=False)
    assert step.status == "done" and step.removed == 1, step.summary
    assert gw.R1 not in json.loads((tmp_path / gw.PATHS["sessions"]).read_bytes())
    gw.build(tmp_path / "b")
    step = prune_dead_runs(load_config(None), str(tmp_path / "b"), gw.NOW_MS, dry_run=False)
    assert step.removed == 0, step.summary


# --- in process, at random ------------------------------------------------------------
_JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
                     | st.text(max_size=8),
                     lambda inner: st.lists(inner, max_size=3)
                     | st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=10)


def _paths(node: object, here: tuple = ()) -> list[tuple]:
    out = [here] if here else []
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*here, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, (*here, i))
    return out


@st.composite
def _broken_file(draw: st.DrawFn) -> tuple[str, bytes]:
    """One baseline file, broken one way: cut, bytes flipped, a value swapped for
    one of another type, or random bytes."""
    target = draw(st.sampled_from(["sessions", "registry", "jobs", "run_log", "sidecar"]))
    base = {"sessions": json.dumps(gw.sessions(), indent=2, ensure_ascii=False).encode(),
            "registry": json.dumps(gw.registry()).encode(),
            "jobs": json.dumps(gw.jobs()).encode(), "run_log": gw.run_log(),
            "sidecar": b'{\n  "pid": 1,\n  "createdAt": "2026-01-01T00:00:00.000Z"\n}\n'}[target]
    how = draw(st.sampled_from(["cut", "flip", "swap", "random"]))
    if how == "cut":
        data = base[: draw(st.integers(0, len(base) - 1))]
    elif how == "flip":
        data = bytearray(base)
        for _ in range(draw(st.integers(1, 4))):
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
        data = bytes(data)
    elif how == "swap" and target != "run_log":
        doc = json.loads(base)
        path = draw(st.sampled_from(_paths(doc)))
        old = doc
        for key in path:
            old = old[key]
        new = draw(_JSON.filter(lambda v, old=old: type(v) is not type(old)))
        data = json.dumps(_set(doc, list(path), new) if path else new).encode()
    else:
        data = draw(st.binary(max_size=300))
    return target, data


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(_broken_file())
def test_any_broken_gateway_file_neither_crashes_a_reader_nor_loses_a_kept_session(
        tmp_path: Path, broken: tuple[str, bytes]) -> None:
    import tempfile

    target, data = broken
    sd = Path(tempfile.mkdtemp(dir=tmp_path))
    gw.build(sd)
    path = sd / gw.PATHS[target]
    path.write_bytes(data)
    snap = read_snapshot(sd, frozenset({gw.R1, gw.R2}), frozenset({"T1"}))
    read_cron(sd, None, gw.NOW_MS - 3_600_000)
    store = sd / gw.PATHS["sessions"]
    before = store.read_bytes()
    cfg = load_config(None)
    cfg = dataclasses.replace(cfg, restart=dataclasses.replace(cfg.restart, sidecar_lock_wait_s=0))
    prune_dead_runs(cfg, str(sd), gw.NOW_MS, dry_run=True)
    assert store.read_bytes() == before
    prune_dead_runs(cfg, str(sd), gw.NOW_MS, dry_run=False)
    after = store.read_bytes()
    if target == "sessions":
        try:
            scan_bytes(data)
        except StoreUnreadable:
            assert after == before  # a store that does not read back is never touched
            assert not snap.agents[0].readable
            return
    elif not _says_something(target, data):
        assert after == before  # nothing readable: the baseline keeps everything
        return
    # A flipped byte can leave a well-formed file that says something else (another
    # child, a finished run): then a cron run may go, and only a cron run.
    old_doc, new_doc = json.loads(before), json.loads(after)
    assert set(old_doc) - set(new_doc) <= {gw.R1, gw.R2}
    assert all(new_doc[k] == old_doc[k] for k in new_doc)


def _says_something(target: str, data: bytes) -> bool:
    """Whether a broken registry or run log is still one the gateway could have
    written: a registry whose runs all name a child, or a run log with a whole
    `finished` line."""
    if target == "run_log":
        for line in data.splitlines():
            try:
                doc = json.loads(line)
            except (ValueError, RecursionError):
                continue
            if isinstance(doc, dict) and doc.get("action") == "finished":
                return True
        return False
    if target != "registry":
        return False  # the sidecar and jobs.json are not facts the prune judges by
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError):
        return False
    runs = doc.get("runs") if isinstance(doc, dict) else None
    return isinstance(runs, dict) and all(
        isinstance(r, dict) and isinstance(r.get("childSessionKey"), str) for r in runs.values())


def test_sqlite_reads_never_write_the_gateways_database(gateway_ws: tuple[Path, Path],
                                                       shared_forkserver: ForkServer) -> None:
    """The databases are read through mode=ro: a WAL-mode database is byte-identical
    afterwards and no rollback journal (a write) ever appears beside it. (SQLite itself
    may create the -wal/-shm pair a WAL reader needs; the gateway uses them as its own.)"""
    root, state_dir = gateway_ws
    _good_state_db(state_dir)
    db = state_dir / gw.PATHS["state_db"]
    con = sqlite3.connect(db)
    con.execute("PRAGMA journal_mode = WAL")
    con.close()
    before = db.read_bytes()
    _run_all(shared_forkserver, root, "wal")
    assert db.read_bytes() == before
    assert not (db.parent / "openclaw.sqlite-journal").exists()
    for extra in db.parent.glob("openclaw.sqlite-*"):
        assert extra.name in ("openclaw.sqlite-wal", "openclaw.sqlite-shm"), extra
        assert extra.name != "openclaw.sqlite-wal" or extra.stat().st_size == 0
