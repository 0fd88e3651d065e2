"""The JSON-file MC board: reads what others write, changes only what it must."""

from __future__ import annotations

import json
import os
from pathlib import Path

from ctoops.actions.board import BoardUpdate, JsonFileBoard


def write(path: Path, doc) -> None:
    path.write_text(json.dumps(doc, indent=2), encoding="utf-8")


def test_r17_move_keeps_unknown_fields_order_and_other_tasks(tmp_path):
    path = tmp_path / "mc-board.json"
    write(path, {"version": 1, "owner": "luna", "tasks": [
        {"id": "A", "status": "in_progress", "session_key": "agent:main:main", "assignee": "x",
         "labels": ["p1"], "ctoops": {"note": "mine from before"}},
        {"id": 7, "status": "todo", "extra": {"deep": [1, 2]}}], "columns": ["todo", "done"]})
    board = JsonFileBoard(path)
    [res] = board.apply([BoardUpdate("A", "review", "in_progress", {"lost_rule": "missing"})])
    assert res.outcome == "done"
    doc = json.loads(path.read_text())
    assert doc["owner"] == "luna" and doc["columns"] == ["todo", "done"]
    a, b = doc["tasks"]
    assert list(a) == ["id", "status", "session_key", "assignee", "labels", "ctoops"]
    assert a["status"] == "review" and a["assignee"] == "x" and a["labels"] == ["p1"]
    assert a["ctoops"] == {"note": "mine from before", "lost_rule": "missing"}
    assert b == {"id": 7, "status": "todo", "extra": {"deep": [1, 2]}}
    assert [t.id for t in board.read().tasks] == ["A", "7"]


def test_r17_a_task_that_changed_status_meanwhile_is_not_moved(tmp_path):
    path = tmp_path / "b.json"
    write(path, {"tasks": [{"id": "A", "status": "done"}]})
    [res] = JsonFileBoard(path).apply([BoardUpdate("A", "review", "in_progress")])
    assert res.outcome == "skipped" and "done" in res.detail
    assert json.loads(path.read_text())["tasks"][0]["status"] == "done"


def test_r17_a_board_that_does_not_parse_is_never_rewritten(tmp_path):
    path = tmp_path / "b.json"
    path.write_bytes(b'{"tasks": [{"id": "A", "status": "in_progress"')
    before = path.read_bytes()
    board = JsonFileBoard(path)
    snap = board.read()
    assert not snap.readable and "not valid" in snap.problems[0]
    [res] = board.apply([BoardUpdate("A", "review", "in_progress")])
    assert res.outcome == "failed" and path.read_bytes() == before
    write(path, {"tasks": "not a list"})
    assert not board.read().readable


def test_r17_tasks_without_ids_or_with_duplicate_ids_are_reported_not_touched(tmp_path):
    path = tmp_path / "b.json"
    write(path, {"tasks": [{"status": "in_progress"}, {"id": "D", "status": "in_progress"},
                           {"id": "D", "status": "todo"}, "text", {"id": "E", "status": 3}]})
    board = JsonFileBoard(path)
    snap = board.read()
    assert snap.tasks == () and len(snap.problems) == 2
    [res] = board.apply([BoardUpdate("D", "review", "in_progress")])
    assert res.outcome == "skipped" and "duplicate" in res.detail


def test_r17_ledger_task_is_added_and_a_missing_board_is_created_private(tmp_path):
    path = tmp_path / "memory" / "mc-board.json"
    [res] = JsonFileBoard(path).apply([BoardUpdate("L1", "review", None, {"x": 1},
                                                   create={"title": "t", "session_key": "k"})])
    assert res.outcome == "done"
    doc = json.loads(path.read_text())
    assert doc["tasks"] == [{"title": "t", "session_key": "k", "id": "L1", "status": "review",
                             "ctoops": {"x": 1}}]
    assert os.stat(path).st_mode & 0o777 == 0o640


def test_r17_existing_file_mode_is_kept_but_never_world_writable(tmp_path):
    path = tmp_path / "b.json"
    write(path, {"tasks": [{"id": "A", "status": "in_progress"}]})
    os.chmod(path, 0o666)
    JsonFileBoard(path).apply([BoardUpdate("A", "review", "in_progress")])
    assert os.stat(path).st_mode & 0o777 == 0o664


class RacingBoard(JsonFileBoard):
    """Another agent rewrites the board between our read and our rename, once."""

    raced = False

    def _stat(self):
        calls = getattr(self, "_calls", 0)
        self._calls = calls + 1
        if not self.raced and calls == 1:  # the check just before our rename
            self.raced = True
            doc = json.loads(self.path.read_text())
            doc["tasks"].append({"id": "NEW", "status": "todo", "by": "other agent"})
            self.path.write_text(json.dumps(doc) + " " * 7)
        return super()._stat()


def test_r17_a_concurrent_writer_is_not_lost_the_update_is_redone_on_its_version(tmp_path):
    path = tmp_path / "b.json"
    write(path, {"tasks": [{"id": "A", "status": "in_progress"}]})
    board = RacingBoard(path)
    [res] = board.apply([BoardUpdate("A", "review", "in_progress")])
    assert board.raced and res.outcome == "done"
    doc = json.loads(path.read_text())
    assert [(t["id"], t["status"]) for t in doc["tasks"]] == [("A", "review"), ("NEW", "todo")]
