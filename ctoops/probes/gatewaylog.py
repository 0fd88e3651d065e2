"""The gateway's JSON-lines log files, read from a cursor (retry-storm's main source).

Facts relied on (OpenClaw 2026.9.6, read from its logger and checked on a real
gateway): one file per local day, `<prefix>-YYYY-MM-DD.log` where the prefix is
`openclaw` or `openclaw-<profile>`; when a file passes its size cap (100 MB by
default) the gateway renames it to `<prefix>-YYYY-MM-DD.1.log` (older ones shift
to .2 ... .5, the oldest is deleted) and starts a new file under the day's name;
files older than a day are pruned. Each line is one JSON object with `time`
(ISO 8601), `message`, and `_meta` holding `logLevelName` (INFO/WARN/ERROR/...)
and `name`, which for subsystem loggers is itself a JSON string such as
`{"subsystem":"gateway"}`; the positional keys "0", "1", ... hold the raw
arguments.

Only lines whose level is configured as an error are parsed in full (the fast
path that keeps a run cheap); every other line is only checked for looking like
a JSON object. A line that is not valid UTF-8 or not JSON is skipped and counted.
"""

from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path

from ctoops.probes import tailfile
from ctoops.probes.errorevent import ABSENT, FAILED, PRESENT, ErrorEvent, SourceRead, parse_time

SOURCE = "gateway_log"
MAX_MESSAGE_CHARS = 2000


def _pattern(prefix: str) -> re.Pattern[str]:
    return re.compile(rf"^{re.escape(prefix)}-(\d{{4}}-\d{{2}}-\d{{2}})(?:\.(\d+))?\.log$")


def family(log_dir: Path, prefix: str) -> list[tuple[tuple[str, int], tailfile.FileInfo]]:
    """The day files and their size rotations, oldest first: by day, then .5 ... .1,
    then the day's live file. Symlinks and non-regular files are ignored."""
    pattern = _pattern(prefix)
    found: list[tuple[tuple[str, int], tailfile.FileInfo]] = []
    with os.scandir(log_dir) as entries:
        for entry in entries:
            match = pattern.match(entry.name)
            if not match:
                continue
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            if not stat.S_ISREG(st.st_mode):
                continue
            rotation = int(match.group(2)) if match.group(2) else 0
            found.append(((match.group(1), -rotation),
                          tailfile.FileInfo(Path(entry.path), st.st_ino, st.st_size)))
    found.sort(key=lambda item: item[0])
    return found


def read_gateway_log(log_dir: Path, prefix: str, cursor_data: object, max_bytes: int,
                     levels: list[str], fallback_ts: float) -> SourceRead:
    """New error lines since the cursor. `fallback_ts` stamps a line whose own time
    does not parse (the probe never reads the clock)."""
    if not log_dir.is_dir():
        return SourceRead(SOURCE, ABSENT, notes=(f"no gateway log folder {log_dir}",),
                          cursor=cursor_data if isinstance(cursor_data, dict) else None)
    try:
        members = family(log_dir, prefix)
    except OSError as exc:
        return SourceRead(SOURCE, FAILED, notes=(f"cannot list {log_dir}: {exc.strerror or exc}",),
                          cursor=cursor_data if isinstance(cursor_data, dict) else None)
    if not members:
        return SourceRead(SOURCE, ABSENT,
                          notes=(f"no {prefix}-YYYY-MM-DD.log files in {log_dir}",),
                          cursor=cursor_data if isinstance(cursor_data, dict) else None)
    pattern = _pattern(prefix)

    def day_of(name: str) -> str | None:
        match = pattern.match(name)
        return match.group(1) if match else None

    cursor = tailfile.Cursor.from_dict(cursor_data)
    got = tailfile.tail([info for _, info in members], cursor, max_bytes, day_of)
    markers = tuple(f'"logLevelName":"{level}"'.encode() for level in levels)
    wanted = {level.upper() for level in levels}
    events: list[ErrorEvent] = []
    bad = 0
    for line in got.lines:
        if not any(marker in line for marker in markers):
            stripped = line.strip()
            if not (stripped.startswith(b"{") and stripped.endswith(b"}")):
                bad += 1
            continue
        event = parse_line(line, wanted, fallback_ts)
        if event is None:
            bad += 1
        elif event is not _NOT_AN_ERROR:
            events.append(event)
    return SourceRead(SOURCE, PRESENT, tuple(events),
                      got.cursor.as_dict() if got.cursor else None, got.bytes_read,
                      len(got.lines), bad, got.skipped_bytes, got.notes,
                      {"files": list(got.files)})


_NOT_AN_ERROR = ErrorEvent(0.0, SOURCE, "", "")


def parse_line(line: bytes, levels: set[str], fallback_ts: float) -> ErrorEvent | None:
    """One log line -> an ErrorEvent, _NOT_AN_ERROR for another level, None when
    the line is not a valid UTF-8 JSON object."""
    try:
        obj = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    if not isinstance(obj, dict):
        return None
    meta = obj.get("_meta") if isinstance(obj.get("_meta"), dict) else {}
    level = meta.get("logLevelName", obj.get("level"))
    if not isinstance(level, str) or level.upper() not in levels:
        return _NOT_AN_ERROR
    message = obj.get("message")
    if not isinstance(message, str):
        message = " ".join(v if isinstance(v, str) else json.dumps(v)
                           for k, v in obj.items() if k.isdigit() and v is not None)
    when = parse_time(obj.get("time", meta.get("date")), fallback_ts)
    return ErrorEvent(when, SOURCE, _subsystem(obj, meta), message[:MAX_MESSAGE_CHARS])


def _subsystem(obj: dict[str, object], meta: dict[str, object]) -> str:
    """The logger's subsystem: `_meta.name` is a JSON string for subsystem loggers
    and a plain name ("openclaw") for the root logger."""
    for raw in (meta.get("name"), obj.get("0")):
        if isinstance(raw, str) and raw.lstrip().startswith("{"):
            try:
                parsed = json.loads(raw)
            except (ValueError, RecursionError):
                continue
            if isinstance(parsed, dict) and isinstance(parsed.get("subsystem"), str):
                return parsed["subsystem"]
    name = meta.get("name")
    return name if isinstance(name, str) and name else "gateway"
