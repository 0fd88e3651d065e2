"""Reading the gateway's real-format log files from a cursor (R4): rotation by day,
by size (rename + new inode), truncation, a rewritten file, the byte cap, torn and
corrupt lines. Real files on disk; each run reads only what is new."""

from __future__ import annotations

import json
import os
from pathlib import Path

from ctoops.probes.gatewaylog import parse_line, read_gateway_log
from ctoops.probes.tailfile import Cursor
from tests.storm.conftest import DAY, FIXTURES, T0
from tests.storm.storm_loggen import append, errors, gateway_line, log_name, rotate_by_size

LEVELS = ["ERROR", "FATAL"]
CAP = 1 << 20


def read(folder: Path, cursor: object = None, cap: int = CAP, prefix: str = "openclaw"):
    return read_gateway_log(folder, prefix, cursor, cap, LEVELS, T0)


def messages(result) -> list[str]:
    return [e.message for e in result.events]


def test_r4_real_gateway_lines_parse_and_the_generator_matches_their_shape(tmp_path) -> None:
    real = (FIXTURES / "real-gateway-lines.log").read_bytes().splitlines(keepends=True)
    parsed = [parse_line(line.rstrip(b"\n"), {"ERROR"}, 0.0) for line in real]
    errors_seen = [p for p in parsed if p is not None and p.message]
    assert len(errors_seen) == 2
    assert errors_seen[0].message.startswith("No --agent specified")
    assert errors_seen[0].origin == "openclaw" and errors_seen[0].ts > 1.7e9
    subsystem_line = json.loads(real[1])
    ours = json.loads(gateway_line(T0, "WARN", "x", "gateway"))
    assert ours.keys() == subsystem_line.keys()
    assert set(ours["_meta"]) == set(subsystem_line["_meta"])
    root_line = json.loads(real[2])
    ours_root = json.loads(gateway_line(T0, "ERROR", "x"))
    assert ours_root.keys() == root_line.keys()
    assert set(ours_root["_meta"]) - {"path"} == set(root_line["_meta"]) - {"path"}
    sub = parse_line(gateway_line(T0, "ERROR", "boom", "cron"), {"ERROR"}, 0.0)
    assert sub is not None and sub.origin == "cron" and sub.ts == T0


def test_r4_cursor_reads_only_new_lines_and_leaves_a_torn_last_line(tmp_path) -> None:
    log = tmp_path / log_name(DAY)
    append(log, errors(T0, 3) + gateway_line(T0 + 5, "INFO", "fine"))
    first = read(tmp_path)
    assert len(first.events) == 3 and first.lines == 4
    again = read(tmp_path, first.cursor)
    assert again.events == () and again.bytes_read == 0
    whole = gateway_line(T0 + 6, "ERROR", "torn one", "agent")
    append(log, whole[:40])  # the writer is mid-line
    torn = read(tmp_path, again.cursor)
    assert torn.events == () and torn.bad_lines == 0
    assert torn.cursor["offset"] == first.cursor["offset"]
    append(log, whole[40:])
    done = read(tmp_path, torn.cursor)
    assert messages(done) == ["torn one"]


def test_r4_new_day_file_is_followed_after_the_old_one_is_finished(tmp_path) -> None:
    old = tmp_path / log_name("2026-11-29")
    append(old, errors(T0 - 86400, 2))
    first = read(tmp_path)
    append(old, gateway_line(T0 - 10, "ERROR", "last of the day", "agent"))
    append(tmp_path / log_name(DAY), gateway_line(T0, "ERROR", "first of the day", "agent"))
    nxt = read(tmp_path, first.cursor)
    assert messages(nxt) == ["last of the day", "first of the day"]
    assert nxt.cursor["file"] == log_name(DAY)


def test_r4_size_rotation_reads_the_renamed_file_to_its_end_then_the_new_one(tmp_path) -> None:
    log = tmp_path / log_name(DAY)
    append(log, errors(T0, 2))
    first = read(tmp_path)
    append(log, gateway_line(T0 + 3, "ERROR", "written just before rotation", "agent"))
    rotate_by_size(log)  # openclaw-DAY.log -> openclaw-DAY.1.log, new inode under the name
    append(log, gateway_line(T0 + 4, "ERROR", "written after rotation", "agent"))
    nxt = read(tmp_path, first.cursor)
    assert messages(nxt) == ["written just before rotation", "written after rotation"]
    assert any("rotated" in n for n in nxt.notes)
    assert read(tmp_path, nxt.cursor).events == ()


def test_r4_two_size_rotations_between_runs_lose_nothing(tmp_path) -> None:
    log = tmp_path / log_name(DAY)
    append(log, errors(T0, 1))
    first = read(tmp_path)
    append(log, gateway_line(T0 + 1, "ERROR", "a", "x"))
    rotate_by_size(log)
    append(log, gateway_line(T0 + 2, "ERROR", "b", "x"))
    rotate_by_size(log)
    append(log, gateway_line(T0 + 3, "ERROR", "c", "x"))
    assert messages(read(tmp_path, first.cursor)) == ["a", "b", "c"]


def test_r4_truncated_file_is_read_again_from_its_start(tmp_path) -> None:
    log = tmp_path / log_name(DAY)
    append(log, errors(T0, 5))
    first = read(tmp_path)
    with open(log, "wb") as fh:  # copytruncate-style: same inode, size 0
        fh.write(gateway_line(T0 + 9, "ERROR", "after truncation", "agent"))
    assert os.stat(log).st_ino == first.cursor["inode"]
    nxt = read(tmp_path, first.cursor)
    assert messages(nxt) == ["after truncation"]
    assert any("truncated" in n for n in nxt.notes)


def test_r4_file_swapped_for_a_new_inode_is_read_from_its_start(tmp_path) -> None:
    log = tmp_path / log_name(DAY)
    append(log, errors(T0, 3))
    first = read(tmp_path)
    fresh = tmp_path / "swap.tmp"
    append(fresh, errors(T0 + 60, 4, "replaced file failure {i}"))
    os.replace(fresh, log)  # atomic swap: a new inode under the same name
    nxt = read(tmp_path, first.cursor)
    assert len(nxt.events) == 4 and nxt.events[0].message.startswith("replaced file failure")
    assert any("replaced" in n for n in nxt.notes)


def test_r4_same_inode_rewritten_past_the_old_offset_is_caught_by_its_head(tmp_path) -> None:
    log = tmp_path / log_name(DAY)
    append(log, errors(T0, 2))
    first = read(tmp_path)
    with open(log, "r+b") as fh:  # truncated and refilled before the next run looked
        fh.truncate(0)
        fh.write(errors(T0 + 100, 6, "refilled {i}"))
    assert os.stat(log).st_size > first.cursor["offset"]
    nxt = read(tmp_path, first.cursor)
    assert len(nxt.events) == 6


def test_r4_corrupt_and_non_utf8_lines_are_skipped_and_counted(tmp_path) -> None:
    log = tmp_path / log_name(DAY)
    bad_utf8 = gateway_line(T0, "ERROR", "x", "agent").replace(b'"x"', b'"\xff\xfe"', 1)
    append(log, errors(T0, 2) + b"\x00\x01 not json at all\n" + bad_utf8
           + b'{"_meta":{"logLevelName":"ERROR"}, broken\n' + b"[1,2]\n" + errors(T0 + 5, 1))
    got = read(tmp_path)
    assert len(got.events) == 3 and got.bad_lines == 4


def test_r4_the_byte_cap_bounds_a_run_and_keeps_the_newest_lines(tmp_path) -> None:
    log = tmp_path / log_name(DAY)
    append(log, errors(T0, 2000))
    size = log.stat().st_size
    first = read(tmp_path, cap=64 * 1024)
    assert first.bytes_read <= 64 * 1024 + 1 and first.skipped_bytes > size - 70 * 1024
    assert first.bad_lines == 0  # the cut line was dropped whole, not parsed half
    assert first.events[-1].ts == T0 + 1999
    append(log, errors(T0 + 3000, 3000))
    nxt = read(tmp_path, first.cursor, cap=64 * 1024)
    assert nxt.bytes_read <= 64 * 1024 + 1 and nxt.bad_lines == 0
    assert nxt.events[-1].ts == T0 + 3000 + 2999
    assert any("skipped the oldest" in n for n in nxt.notes)


def test_r4_first_run_starts_with_the_newest_file_only(tmp_path) -> None:
    append(tmp_path / log_name("2026-11-28"), errors(T0 - 2 * 86400, 50))
    append(tmp_path / log_name(DAY), errors(T0, 2))
    got = read(tmp_path)
    assert len(got.events) == 2 and got.detail["files"] == [log_name(DAY)]


def test_r4_profile_logs_and_other_files_are_kept_apart(tmp_path) -> None:
    append(tmp_path / log_name(DAY, "openclaw-dev"), errors(T0, 3))
    append(tmp_path / "openclaw.log", errors(T0, 3))
    (tmp_path / log_name("2026-11-29")).symlink_to(tmp_path / "openclaw.log")
    assert read(tmp_path).status == "absent"
    assert len(read(tmp_path, prefix="openclaw-dev").events) == 3


def test_r4_missing_log_folder_is_a_note_and_keeps_the_cursor(tmp_path) -> None:
    cursor = Cursor("openclaw-2026-11-30.log", 5, 10).as_dict()
    got = read(tmp_path / "nope", cursor)
    assert got.status == "absent" and got.cursor == cursor and "no gateway log folder" in got.notes[0]


def test_r4_a_malformed_cursor_in_the_state_starts_afresh(tmp_path) -> None:
    append(tmp_path / log_name(DAY), errors(T0, 2))
    assert len(read(tmp_path, {"file": 3, "inode": "x"}).events) == 2
