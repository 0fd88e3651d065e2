"""The file-era reader: streaming sessions.json with bounded memory, and the small files."""

from __future__ import annotations

import io
import json
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ctoops.probes.openclaw import filestore
from ctoops.probes.openclaw.jsonstream import StreamError, iter_object_items
from tests.sessions import openclaw_gen as gen
from tests.sessions.conftest import NOW_MS

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12)


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.text(), json_values, max_size=12), st.integers(1, 64),
       st.booleans())
def test_r2_stream_yields_exactly_what_json_load_sees_at_any_chunk_size(doc, chunk, pretty):
    raw = json.dumps(doc, ensure_ascii=False, indent=1 if pretty else None).encode("utf-8")
    assert dict(iter_object_items(io.BytesIO(raw), chunk_bytes=chunk)) == doc


@pytest.mark.parametrize("raw, words", [
    (b"", "empty"),
    (b"[1, 2]", "not a JSON object"),
    (b'{"a": {"b": 1}', "truncated"),
    (b'{"a": 1,}', "expected a member name"),
    (b'{"a": "\xff\xfe"}', "not UTF-8"),
    (b'{"a": 1} {"b": 2}', "data after"),
    (b'{"a": {"updatedAt": NaN}}', "NaN is not JSON"),
    (b'{"a": -Infinity}', "Infinity is not JSON"),
    (b'{"a": [1, 2,, 3], "b": 2}', "Expecting value"),
])
def test_r2_bad_store_text_is_a_clear_error_not_a_crash(raw, words):
    with pytest.raises(StreamError, match=words):
        list(iter_object_items(io.BytesIO(raw), chunk_bytes=3))


def test_r2_malformed_member_deep_in_a_big_file_fails_without_reading_the_rest(tmp_path):
    """A syntax error far from the buffer's end is reported at once, not after
    pulling the remaining megabytes into memory."""
    path = tmp_path / "s.json"
    with path.open("w") as fh:
        fh.write('{"a": {"x": [1, 2 3]}, ')
        for i in range(20_000):
            fh.write(f'"k{i}": "{"v" * 200}", ')
        fh.write('"z": 1}')
    with path.open("rb") as fh:
        with pytest.raises(StreamError, match="delimiter"):
            list(iter_object_items(fh, chunk_bytes=4096))
        assert fh.tell() < 64 * 1024


def test_r2_a_20mb_store_streams_with_memory_bounded_by_one_entry(tmp_path):
    path = gen.write_sessions_json(tmp_path, gen.realistic_items(20 << 20, NOW_MS,
                                                                 entry_bytes=20_000))
    assert path.stat().st_size > 20_000_000
    tracemalloc.start()
    try:
        view = filestore.read_sessions_json(path, "main")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert view.readable and view.total > 900
    assert peak < 8 << 20, f"peak {peak} bytes for a {path.stat().st_size} byte store"


def test_r2_reader_keeps_running_named_and_a_dead_sample_and_counts_the_rest(tmp_path):
    items = [(gen.key_main(), gen.entry("m", "running", NOW_MS, heartbeat_ms=NOW_MS - 5))]
    items += [(gen.key_subagent(f"d{i}"), gen.entry(f"d{i}", "failed", NOW_MS - i))
              for i in range(50)]
    items += [(gen.key_cron_job(f"j{i}"), gen.entry(f"j{i}", "done", NOW_MS)) for i in range(30)]
    named = gen.key_cron_job("j7")
    path = gen.write_sessions_json(tmp_path, items)
    view = filestore.read_sessions_json(path, "main", frozenset({named}), dead_sample=5)
    keys = {r.key for r in view.records}
    assert view.total == 81 and view.by_status == {"running": 1, "failed": 50, "done": 30}
    assert gen.key_main() in keys and named in keys
    dead = [r for r in view.records if r.status == "failed"]
    assert [r.session_id for r in dead] == ["d0", "d1", "d2", "d3", "d4"]  # the newest five
    assert view.main_heartbeat_ms == NOW_MS - 5


def test_r2_entries_of_the_wrong_type_are_counted_and_ignored(tmp_path):
    path = gen.write_sessions_json(tmp_path, [
        (gen.key_main(), gen.entry("m", "running", "yesterday")),  # updatedAt not a number
        (gen.key_subagent("x"), ["not", "an", "object"]),
        (gen.key_subagent("y"), {"sessionId": 5, "status": 7, "updatedAt": True}),
    ])
    view = filestore.read_sessions_json(path, "main", frozenset({gen.key_subagent("y")}))
    assert view.readable and view.skipped_entries == 1
    main = next(r for r in view.records if r.key == gen.key_main())
    assert main.updated_at_ms is None and main.status == "running"
    odd = next(r for r in view.records if r.key == gen.key_subagent("y"))
    assert (odd.session_id, odd.status, odd.updated_at_ms) == (None, None, None)
    assert any(p.kind == "malformed_entries" for p in view.problems)


@pytest.mark.parametrize("raw", [b'{"agent:main:main": {"status": "run', b"\xff\xfe{}",
                                 b"", b"null"])
def test_r2_corrupt_store_is_unreadable_with_a_high_finding_and_no_records(tmp_path, raw):
    path = tmp_path / "agents" / "main" / "sessions" / "sessions.json"
    path.parent.mkdir(parents=True)
    path.write_bytes(raw)
    view = filestore.read_sessions_json(path, "main")
    assert not view.readable and view.records == ()
    assert view.problems[0].kind == "malformed" and view.problems[0].risk == "high"
    assert "overwrites it" in view.problems[0].message


def test_r2_subagent_runs_and_heartbeat_job_and_run_logs_are_read(tmp_path: Path):
    gen.write_subagents_json(tmp_path, {
        "r1": {"childSessionKey": gen.key_subagent("a"), "startedAt": 1},
        "r2": {"childSessionKey": gen.key_subagent("b"), "startedAt": 1, "endedAt": 2,
               "outcome": {"status": "error"}},
        "r3": "garbage"})
    subs, problems = filestore.read_subagent_runs(tmp_path / "subagents" / "runs.json")
    assert {s.run_id: s.status for s in subs} == {"r1": "running", "r2": "error"}
    assert [p.kind for p in problems] == ["malformed_entries"]  # "r3" is named, not hidden
    gen.write_cron_jobs_json(tmp_path, [gen.heartbeat_job("main", NOW_MS - 10, every_ms=60_000),
                                        {"id": "other", "payload": {"kind": "agentTurn"}}])
    beats, _ = filestore.read_cron_jobs_json(tmp_path / "cron" / "jobs.json")
    assert [(b.agent_id, b.last_ms, b.interval_ms) for b in beats] == [("main", NOW_MS - 10,
                                                                         60_000)]
    gen.append_cron_run(tmp_path, "job1", "run-a", "error", NOW_MS, error="boom")
    (tmp_path / "cron" / "runs" / "job1.jsonl").open("a").write("not json\n")
    runs, problems = filestore.read_cron_run_logs(tmp_path / "cron" / "runs")
    assert [(r.job_id, r.run_id, r.status, r.error) for r in runs] == [
        ("job1", "run-a", "error", "boom")]
    assert problems and problems[0].kind == "malformed_lines"


def test_r2_small_files_that_do_not_parse_are_findings(tmp_path):
    bad = tmp_path / "subagents" / "runs.json"
    bad.parent.mkdir()
    bad.write_bytes(b"\x00\x01not json")
    subs, problems = filestore.read_subagent_runs(bad)
    assert subs == () and problems[0].kind == "malformed"
    missing, none = filestore.read_subagent_runs(tmp_path / "nope.json")
    assert missing == () and none == ()
