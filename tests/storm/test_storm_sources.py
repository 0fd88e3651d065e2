"""The events file other tools append to, and journald (R4). journald is read with
the real journalctl from a journal file written by systemd-journal-remote; the
test is skipped, saying so, where that tool is not installed."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from ctoops.probes.eventsfile import read_events_file
from ctoops.probes.journal import build_argv, read_journal
from tests.storm.conftest import T0

JOURNAL_REMOTE = Path("/lib/systemd/systemd-journal-remote")


def line(**fields: object) -> bytes:
    return (json.dumps(fields) + "\n").encode()


def test_r4_events_file_lines_become_error_events_with_their_own_cursor(tmp_path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_bytes(
        line(ts=T0, source="mc-runner", message="task t-1 stalled", job="nightly")
        + line(ts="2026-11-30T12:00:05Z", message="retry 3 of task t-2", fingerprint="retry")
        + line(ts=T0, level="info", message="all good")
        + line(message=42) + b"not json\n" + b"\xff\xfe\n")
    got = read_events_file(path, None, 1 << 20, T0 + 99)
    assert [(e.origin, e.message, e.job) for e in got.events] == [
        ("mc-runner", "task t-1 stalled", "nightly"), ("events", "retry 3 of task t-2", None)]
    assert got.events[1].ts == T0 + 5 and got.events[1].fingerprint == "retry"
    assert got.bad_lines == 3 and got.detail["ignored_levels"] == 1
    with open(path, "ab") as fh:
        fh.write(line(message="appended later"))
    nxt = read_events_file(path, got.cursor, 1 << 20, T0 + 100)
    assert [e.message for e in nxt.events] == ["appended later"]
    assert nxt.events[0].ts == T0 + 100  # no ts: when ctoops read it


def test_r4_missing_events_file_is_a_note(tmp_path) -> None:
    got = read_events_file(tmp_path / "none.jsonl", {"file": "x", "inode": 1, "offset": 3}, 4096, T0)
    assert got.status == "absent" and got.cursor == {"file": "x", "inode": 1, "offset": 3}


def test_r4_an_events_path_that_is_a_fifo_is_never_opened(tmp_path) -> None:
    import os

    fifo = tmp_path / "events.jsonl"
    os.mkfifo(fifo)
    got = read_events_file(fifo, None, 4096, T0)  # would block forever if opened
    assert got.status == "absent" and "not a regular file" in got.notes[0]


def test_r4_journal_argv_is_a_list_with_the_cursor_or_a_start_time() -> None:
    assert build_argv("openclaw-gateway.service", "system", None, T0, 4) == [
        "journalctl", "--unit", "openclaw-gateway.service", "--output", "json", "--no-pager",
        "--priority=0..4", "--since", f"@{int(T0)}"]
    argv = build_argv("gw.service", "user", "s=abc;i=1", T0, 3, "/var/tmp/j")
    assert argv[1:4] == ["--directory", "/var/tmp/j", "--user-unit"]
    assert argv[-2:] == ["--after-cursor", "s=abc;i=1"]


def test_r4_missing_journal_folder_is_a_note(tmp_path) -> None:
    got = read_journal("gw.service", "system", "s=1", T0, 4, 4096, 5, str(tmp_path / "none"))
    assert got.status == "absent" and got.cursor == {"cursor": "s=1"}


@pytest.fixture
def journal_dir(tmp_path: Path) -> Path:
    if not JOURNAL_REMOTE.exists() or shutil.which("journalctl") is None:
        pytest.skip("systemd-journal-remote/journalctl not installed: cannot write a real "
                    "journal file (apt-get install systemd-journal-remote)")
    folder = tmp_path / "journal"
    folder.mkdir()
    return folder


def write_journal(folder: Path, entries: list[dict[str, str]], name: str) -> None:
    """Entries in journald's export format, turned into a real journal file."""
    export = "".join("".join(f"{k}={v}\n" for k, v in e.items()) + "\n" for e in entries)
    subprocess.run([str(JOURNAL_REMOTE), "-o", str(folder / name), "-"], input=export.encode(),
                   check=True, capture_output=True, timeout=30)


def entry(i: int, message: str, priority: int, unit: str = "openclaw-gateway.service",
          seconds: float = T0) -> dict[str, str]:
    return {"__REALTIME_TIMESTAMP": str(int((seconds + i) * 1e6)),
            "__MONOTONIC_TIMESTAMP": str(1000 + i), "_BOOT_ID": "0123456789abcdef0123456789abcdef",
            "_SYSTEMD_UNIT": unit, "PRIORITY": str(priority), "MESSAGE": message, "_HOSTNAME": "h"}


def test_r4_journal_entries_of_the_unit_up_to_the_priority_are_read_after_the_cursor(
        journal_dir: Path) -> None:
    write_journal(journal_dir, [
        entry(0, "openclaw-gateway.service: Failed with result 'exit-code'.", 4),
        entry(1, "gateway says hello on stdout", 6),
        entry(2, "other unit failed", 3, unit="other.service"),
        entry(3, "openclaw-gateway.service: Main process exited, status=1/FAILURE", 3)], "a.journal")
    got = read_journal("openclaw-gateway.service", "system", None, T0 - 60, 4, 1 << 20, 10,
                       str(journal_dir))
    assert got.status == "read", got.notes
    assert [e.message for e in got.events] == [
        "openclaw-gateway.service: Failed with result 'exit-code'.",
        "openclaw-gateway.service: Main process exited, status=1/FAILURE"]
    assert got.events[0].ts == T0 and got.events[0].origin == "openclaw-gateway.service"
    again = read_journal("openclaw-gateway.service", "system", got.cursor["cursor"], T0, 4,
                         1 << 20, 10, str(journal_dir))
    assert again.status == "read" and again.events == ()
    assert again.cursor == got.cursor


def test_r4_an_invalid_journal_cursor_is_dropped_so_the_next_run_starts_afresh(
        journal_dir: Path) -> None:
    write_journal(journal_dir, [entry(0, "x failed", 3)], "a.journal")
    got = read_journal("openclaw-gateway.service", "system", "not-a-cursor", T0, 4, 1 << 20, 10,
                       str(journal_dir))
    assert got.status == "failed" and got.cursor is None and "cursor" in got.notes[0]


def test_r4_journal_output_is_cut_at_the_byte_budget_and_resumed(journal_dir: Path) -> None:
    write_journal(journal_dir, [entry(i, f"failure number {i} " + "x" * 300, 3)
                                for i in range(40)], "big.journal")
    first = read_journal("openclaw-gateway.service", "system", None, T0 - 1, 4, 4096, 10,
                         str(journal_dir))
    assert 0 < len(first.events) < 40 and first.bytes_read >= 4096
    seen = [e.message for e in first.events]
    cursor = first.cursor["cursor"]
    for _ in range(40):
        nxt = read_journal("openclaw-gateway.service", "system", cursor, T0 - 1, 4, 4096, 10,
                           str(journal_dir))
        seen += [e.message for e in nxt.events]
        if not nxt.events:
            break
        cursor = nxt.cursor["cursor"]
    assert [int(m.split()[2]) for m in seen] == list(range(40))
