"""The workspace events file: error events other tools append (docs/retry-storm.md).

One JSON object per line: `message` (required), `ts` (epoch seconds or ISO 8601;
default: when ctoops read it), `source` (who wrote it), `level` (default
"error"; only error/fatal/critical count, so a tool may log everything there),
`job` (a cron job id) and `fingerprint` (a key the writer chose: events with the
same key are counted together whatever their text). Read from a cursor like the
gateway's logs; a file replaced by a new one (new inode) is read from its start.
"""

from __future__ import annotations

import json
from pathlib import Path

from ctoops.probes import tailfile
from ctoops.probes.errorevent import ABSENT, PRESENT, ErrorEvent, SourceRead, parse_time

SOURCE = "events"
COUNTED_LEVELS = frozenset({"error", "fatal", "critical"})
MAX_MESSAGE_CHARS = 2000


def read_events_file(path: Path, cursor_data: object, max_bytes: int,
                     fallback_ts: float) -> SourceRead:
    info = tailfile.stat_regular(path)
    kept = cursor_data if isinstance(cursor_data, dict) else None
    if info is None:
        note = (f"no events file {path}" if not path.exists() and not path.is_symlink()
                else f"{path} is not a regular file: not read")
        return SourceRead(SOURCE, ABSENT, cursor=kept, notes=(note,))
    got = tailfile.tail([info], tailfile.Cursor.from_dict(cursor_data), max_bytes)
    events: list[ErrorEvent] = []
    bad = 0
    ignored = 0
    for line in got.lines:
        event = parse_event(line, fallback_ts)
        if event is None:
            bad += 1
        elif event is _IGNORED:
            ignored += 1
        else:
            events.append(event)
    return SourceRead(SOURCE, PRESENT, tuple(events),
                      got.cursor.as_dict() if got.cursor else kept, got.bytes_read,
                      len(got.lines), bad, got.skipped_bytes, got.notes,
                      {"ignored_levels": ignored})


_IGNORED = ErrorEvent(0.0, SOURCE, "", "")


def parse_event(line: bytes, fallback_ts: float) -> ErrorEvent | None:
    """One line -> an ErrorEvent; _IGNORED for a level that does not count; None
    for a line that is not a UTF-8 JSON object with a string `message`."""
    try:
        obj = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    if not isinstance(obj, dict) or not isinstance(obj.get("message"), str):
        return None
    level = obj.get("level", "error")
    if not isinstance(level, str) or level.lower() not in COUNTED_LEVELS:
        return _IGNORED
    source = obj.get("source")
    job = obj.get("job")
    key = obj.get("fingerprint")
    return ErrorEvent(parse_time(obj.get("ts"), fallback_ts), SOURCE,
                      source if isinstance(source, str) and source else "events",
                      obj["message"][:MAX_MESSAGE_CHARS],
                      job if isinstance(job, str) and job else None,
                      key if isinstance(key, str) and key else None)
