"""The incident trail (R23): bounded, scrubbed, 0o640, honest about what is missing."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from ctoops.actions import incident as trail_io
from ctoops.redaction import register

SECRET_HOOK = "https://discord.com/api/webhooks/123456789/abcdefSECRETtokenXYZ"


def trail_with_logs(lines: int) -> trail_io.Trail:
    log = "".join(f"line {i:06d} token=hunter2hunter2 {SECRET_HOOK}\n" for i in range(lines))
    return trail_io.Trail([trail_io.TrailPart("gateway-log.txt", log, keep="tail"),
                           trail_io.TrailPart("journal.txt", log, keep="tail"),
                           trail_io.json_part("probes.json", {"big": ["x" * 100] * 5000})],
                          {"journal": "journalctl not found on PATH"})


def test_r23_bundle_is_bounded_keeps_newest_lines_and_is_scrubbed(tmp_path: Path) -> None:
    register("hunter2hunter2")
    result = trail_io.write_bundle(tmp_path / "incidents", "inc-1", trail_with_logs(20000),
                                   "# Incident inc-1\n", 64 * 1024)
    assert result.ok, result.error
    folder = tmp_path / "incidents" / "inc-1"
    sizes = {p.name: p.stat().st_size for p in folder.iterdir()}
    assert sizes == result.files
    assert sum(sizes.values()) <= 64 * 1024
    assert set(result.truncated) >= {"gateway-log.txt", "journal.txt", "probes.json"}
    log = (folder / "gateway-log.txt").read_text()
    assert log.rstrip().endswith("line 019999 token=[redacted] [webhook …/nXYZ]")
    assert "cut to" in log.splitlines()[0]
    for path in folder.iterdir():
        text = path.read_text()
        assert "hunter2hunter2" not in text and "SECRETtoken" not in text
        assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert stat.S_IMODE(folder.stat().st_mode) & 0o007 == 0
    summary = (folder / "summary.md").read_text()
    assert "journal: journalctl not found on PATH" in summary
    assert "`gateway-log.txt`" in summary and "(cut)" in summary


def test_r23_small_bundle_is_written_whole(tmp_path: Path) -> None:
    result = trail_io.write_bundle(tmp_path, "inc-2", trail_with_logs(3), "# s\n", 5 << 20)
    assert result.ok and result.truncated == ()
    assert (tmp_path / "inc-2" / "journal.txt").read_text().count("\n") == 3


def test_r24_unwritable_incidents_dir_fails_the_bundle(tmp_path: Path) -> None:
    (tmp_path / "incidents").write_text("a file where the folder should be")
    result = trail_io.write_bundle(tmp_path / "incidents", "inc-3", trail_with_logs(3), "# s",
                                   1 << 20)
    assert not result.ok and "cannot write the bundle" in result.error


@pytest.mark.parametrize("board, expected", [
    ({"tasks": [{"id": "t1", "status": "in_progress"}, {"id": "t2", "status": "done"}]}, ["t1"]),
    ([{"id": "t3", "status": "in_progress"}], ["t3"]),
    ({"tasks": {"t4": {"status": "in_progress"}, "t5": {"status": "review"}}}, ["t4"]),
])
def test_r23_board_tasks_in_progress(tmp_path: Path, board: object, expected: list[str]) -> None:
    path = tmp_path / "mc-board.json"
    path.write_text(json.dumps(board))
    data, why = trail_io.board_in_progress(path)
    assert why == "" and [t["id"] for t in data["in_progress"]] == expected


def test_r23_missing_or_broken_board_is_recorded_not_fatal(tmp_path: Path) -> None:
    assert "no MC board" in trail_io.board_in_progress(tmp_path / "none.json")[1]
    (tmp_path / "b.json").write_text("{not json")
    assert "not valid JSON" in trail_io.board_in_progress(tmp_path / "b.json")[1]
    (tmp_path / "c.json").write_text('{"tasks": 3}')
    assert "no task list" in trail_io.board_in_progress(tmp_path / "c.json")[1]


def test_r23_journal_missing_tool_or_journal_is_recorded(tmp_path: Path) -> None:
    part, why = trail_io.journal_part("gw", "system", 10, 1000, tmp_path,
                                      journalctl="no-such-journalctl-xyz")
    assert part is None and "not found on PATH" in why
    part, why = trail_io.journal_part("gw", "system", 10, 1000, tmp_path / "absent")
    if part is None:  # journalctl installed but no journal here
        assert "no systemd journal" in why or "not found" in why


def test_r23_journal_part_runs_journalctl_argv(tmp_path: Path) -> None:
    """A stand-in journalctl (systemd is the part tests replace) shows the argv used."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    exe = bindir / "journalctl"
    exe.write_text(f"#!{sys.executable}\nimport sys\nprint('ARGV', *sys.argv[1:])\n"
                   "print('Nov 30 gateway[1]: hung')\n")
    exe.chmod(0o755)
    part, why = trail_io.journal_part("openclaw-gateway", "user", 7, 10000, tmp_path,
                                      journalctl=str(exe))
    assert why == "" and part is not None and part.keep == "tail"
    assert "ARGV --user -u openclaw-gateway -n 7 --no-pager -o short-iso" in part.text
    assert "hung" in part.text


def test_r23_process_details_of_a_stopped_process() -> None:
    child = subprocess.Popen([sys.executable, "-S", "-c", "import time; time.sleep(60)"])
    try:
        os.kill(child.pid, 19)  # SIGSTOP
        for _ in range(100):
            details = trail_io.process_details(child.pid)
            if details.get("status") == "stopped":
                break
        assert details["status"] == "stopped"
        assert details["thread_states"] == {"T": 1}
        assert "State:\tT" in details["proc_status"]
        assert isinstance(details["memory_info"], dict) and details["memory_info"]["rss"] > 0
    finally:
        child.kill()
        child.wait()
    assert trail_io.process_details(child.pid)["note"] == "the process is gone"
    assert trail_io.process_details(None)["note"] == "no gateway process"
