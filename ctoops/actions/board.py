"""The MC task board (R17): a small adapter interface and the JSON-file board.

Decision code sees only `BoardTask` values and emits `BoardUpdate` values; the
board behind them is a `TaskBoard` (read + apply). Another board (an HTTP API,
a database) is one more class with those two methods, and nothing in `policy/`
changes. The format of the shipped JSON-file board is docs/mc-board.md.

The JSON file is written by other agents and by people too, so ctoops:
- changes only what an update names (a task's `status` and its own `ctoops`
  object), keeping every other field, unknown ones included, and the task order;
- applies under the workspace lock, re-reads the file first, checks each task
  is still in the status the decision saw, and replaces the file atomically
  (temp file, fsync, rename), re-reading and redoing if the file changed between
  its read and the rename (another writer does not take our lock);
- never rewrites a file it cannot parse: that is a finding, and nothing is lost.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ctoops.workspace import FILE_MODE, atomic_write, make_dirs

BOARD_VERSION = 1
MAX_BOARD_BYTES = 16 << 20
APPLY_TRIES = 3


@dataclass(frozen=True)
class BoardTask:
    id: str
    status: str
    session_key: str | None
    title: str | None = None
    openclaw_task_id: str | None = None
    ctoops: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class BoardSnapshot:
    source: str
    exists: bool
    readable: bool
    tasks: tuple[BoardTask, ...] = ()
    problems: tuple[str, ...] = ()


@dataclass(frozen=True)
class BoardUpdate:
    """Set a task's status and/or merge keys into its `ctoops` object. With
    `expect_status`, the update is skipped when the task is no longer in it; with
    `create`, a task with that id is added when the board has none."""

    task_id: str
    set_status: str | None = None
    expect_status: str | None = None
    ctoops: dict[str, Any] = field(default_factory=dict)
    create: dict[str, Any] | None = None


@dataclass(frozen=True)
class BoardResult:
    task_id: str
    outcome: str  # done | skipped | failed
    detail: str = ""


class TaskBoard(Protocol):
    source: str

    def read(self) -> BoardSnapshot: ...

    def apply(self, updates: list[BoardUpdate]) -> list[BoardResult]: ...


def open_board(path: Path) -> TaskBoard:
    """The board the configuration names (today: the JSON file)."""
    return JsonFileBoard(path)


def _task_id(raw: dict[str, Any]) -> str | None:
    value = raw.get("id")
    if isinstance(value, bool) or not isinstance(value, (str, int)) or value == "":
        return None
    return str(value)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _parse(data: bytes, source: str) -> tuple[dict[str, Any] | None, str | None]:
    if len(data) > MAX_BOARD_BYTES:
        return None, f"{source}: {len(data)} bytes, more than the {MAX_BOARD_BYTES} read"
    try:
        doc = json.loads(data.decode("utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        return None, f"{source}: not valid UTF-8 JSON ({exc}); left untouched"
    if not isinstance(doc, dict) or not isinstance(doc.get("tasks"), list):
        return None, f"{source}: expected an object with a \"tasks\" list; left untouched"
    return doc, None


class JsonFileBoard:
    """`{"version": 1, "tasks": [{"id", "status", "session_key", ...}, ...]}`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.source = str(path)

    def read(self) -> BoardSnapshot:
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return BoardSnapshot(self.source, False, True)
        except OSError as exc:
            return BoardSnapshot(self.source, True, False,
                                 problems=(f"{self.source}: cannot read: {exc.strerror or exc}",))
        doc, problem = _parse(data, self.source)
        if doc is None:
            return BoardSnapshot(self.source, True, False, problems=(problem or "",))
        tasks: list[BoardTask] = []
        problems: list[str] = []
        seen: dict[str, int] = {}
        bad = 0
        for raw in doc["tasks"]:
            task_id = _task_id(raw) if isinstance(raw, dict) else None
            if task_id is None or not isinstance(raw.get("status", ""), str):
                bad += 1
                continue
            seen[task_id] = seen.get(task_id, 0) + 1
            own = raw.get("ctoops")
            tasks.append(BoardTask(task_id, str(raw.get("status", "")),
                                   _text(raw.get("session_key")) or _text(raw.get("sessionKey")),
                                   _text(raw.get("title")), _text(raw.get("openclaw_task_id")),
                                   own if isinstance(own, dict) else {}))
        if bad:
            problems.append(f"{self.source}: {bad} task(s) without a string id or with a "
                            "non-string status; ignored")
        dupes = sorted(k for k, n in seen.items() if n > 1)
        if dupes:
            problems.append(f"{self.source}: duplicate task ids {dupes[:5]}; those tasks are "
                            "not changed")
            tasks = [t for t in tasks if t.id not in dupes]
        return BoardSnapshot(self.source, True, True, tuple(tasks), tuple(problems))

    # --- writing ---------------------------------------------------------------------
    def apply(self, updates: list[BoardUpdate]) -> list[BoardResult]:
        """Apply under the caller's workspace lock; redo if another writer raced us."""
        if not updates:
            return []
        for _ in range(APPLY_TRIES):
            try:
                before = self._stat()
                data = self.path.read_bytes() if before else None
            except OSError as exc:
                return [BoardResult(u.task_id, "failed", f"cannot read the board: {exc}")
                        for u in updates]
            if data is None:
                doc: dict[str, Any] = {"version": BOARD_VERSION, "tasks": []}
            else:
                parsed, problem = _parse(data, self.source)
                if parsed is None:
                    return [BoardResult(u.task_id, "failed", problem or "") for u in updates]
                doc = parsed
            results = [_apply_one(doc["tasks"], u) for u in updates]
            if not any(r.outcome == "done" for r in results):
                return results
            payload = (json.dumps(doc, ensure_ascii=False, indent=2) + "\n").encode("utf-8")
            if self._stat() != before:
                continue  # someone wrote it meanwhile: read their version and redo
            try:
                make_dirs(self.path.parent)
                mode = self._mode(before)
                atomic_write(self.path, payload, mode)
                if stat.S_IMODE(os.stat(self.path).st_mode) != mode:
                    os.chmod(self.path, mode)  # the umask narrowed it: others write it too
            except OSError as exc:
                return [BoardResult(r.task_id, "failed" if r.outcome == "done" else r.outcome,
                                    f"cannot write the board: {exc.strerror or exc}"
                                    if r.outcome == "done" else r.detail) for r in results]
            return results
        return [BoardResult(u.task_id, "failed", f"the board changed under every one of "
                            f"{APPLY_TRIES} tries; not written") for u in updates]

    def _stat(self) -> tuple[int, int, int] | None:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_size, st.st_mtime_ns)

    def _mode(self, before: tuple[int, int, int] | None) -> int:
        """Keep the mode other writers rely on, minus world-write."""
        if before is None:
            return FILE_MODE
        try:
            return stat.S_IMODE(os.stat(self.path).st_mode) & ~0o002
        except OSError:
            return FILE_MODE


def _apply_one(tasks: list[Any], update: BoardUpdate) -> BoardResult:
    matches = [t for t in tasks if isinstance(t, dict) and _task_id(t) == update.task_id]
    if len(matches) > 1:
        return BoardResult(update.task_id, "skipped", "duplicate task id on the board")
    if not matches:
        if update.create is None:
            return BoardResult(update.task_id, "skipped", "no longer on the board")
        tasks.append({**update.create, "id": update.task_id,
                      **({"status": update.set_status} if update.set_status else {}),
                      "ctoops": dict(update.ctoops)})
        return BoardResult(update.task_id, "done", "added to the board")
    task = matches[0]
    if update.expect_status is not None and task.get("status") != update.expect_status:
        return BoardResult(update.task_id, "skipped",
                           f"status is now {task.get('status')!r}, not {update.expect_status!r}")
    if update.set_status is not None:
        task["status"] = update.set_status
    if update.ctoops:
        own = task.get("ctoops")
        task["ctoops"] = {**(own if isinstance(own, dict) else {}), **update.ctoops}
    return BoardResult(update.task_id, "done",
                       f"status -> {update.set_status}" if update.set_status else "updated")
