"""The gateway's own log: how fresh its last line is, and its last lines.

The gateway writes JSON lines (`time`, `message`, `_meta.logLevelName`) to
`openclaw[-<profile>]-YYYY-MM-DD.log` under `gateway.log_dir`, one file per day.
Logs can reach 100 MB before rotation, so everything here reads from the END of
the newest file only, a bounded number of bytes, never the whole file.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

PATTERN = "openclaw-*.log"
TAIL_BYTES = 65536


@dataclass(frozen=True)
class LogFreshness:
    path: str  # the newest log file; empty when none
    size_bytes: int = 0
    mtime: float | None = None
    last_time: float | None = None  # epoch seconds of the last line with a `time`
    last_level: str = ""
    last_message: str = ""
    error: str = ""  # why nothing could be read (no folder, no file, unreadable)

    def age_s(self, now: float) -> float | None:
        stamp = self.last_time if self.last_time is not None else self.mtime
        return None if stamp is None else max(0.0, now - stamp)


def newest_log(log_dir: Path) -> Path | None:
    """The most recently modified `openclaw-*.log` (rotated `.1`.. archives excluded)."""
    best: tuple[float, Path] | None = None
    try:
        entries = list(os.scandir(log_dir))
    except OSError:
        return None
    for entry in entries:
        if not (entry.name.startswith("openclaw-") and entry.name.endswith(".log")):
            continue
        try:
            if not entry.is_file(follow_symlinks=False):
                continue
            mtime = entry.stat(follow_symlinks=False).st_mtime
        except OSError:
            continue
        if best is None or mtime > best[0]:
            best = (mtime, Path(entry.path))
    return best[1] if best else None


def read_tail(path: Path, max_bytes: int) -> bytes:
    """Up to `max_bytes` from the end of `path`, cut to start at a whole line."""
    with path.open("rb") as fh:
        fh.seek(0, os.SEEK_END)
        size = fh.tell()
        start = max(0, size - max_bytes)
        fh.seek(start)
        data = fh.read(max_bytes)
    if start > 0:
        cut = data.find(b"\n")
        data = data[cut + 1:] if cut >= 0 else b""
    return data


def tail_lines(path: Path, lines: int, max_bytes: int) -> list[str]:
    """The last `lines` whole lines of `path`, reading at most `max_bytes`."""
    text = read_tail(path, max_bytes).decode("utf-8", "replace")
    return text.splitlines()[-lines:] if lines > 0 else []


def parse_time(value: object) -> float | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        stamp = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if stamp.tzinfo is None:
        return None  # a naive time cannot be placed; mtime is the better guess
    return stamp.timestamp()


def read_freshness(log_dir: Path, tail_bytes: int = TAIL_BYTES) -> LogFreshness:
    if not log_dir.is_dir():
        return LogFreshness("", error=f"no log folder {log_dir}")
    path = newest_log(log_dir)
    if path is None:
        return LogFreshness("", error=f"no {PATTERN} in {log_dir}")
    try:
        st = path.stat()
        lines = read_tail(path, tail_bytes).splitlines()
    except OSError as exc:
        return LogFreshness(str(path), error=f"cannot read {path}: {exc.strerror or exc}")
    for raw in reversed(lines):
        try:
            record = json.loads(raw)
        except ValueError:
            continue
        if not isinstance(record, dict):
            continue
        stamp = parse_time(record.get("time")) or parse_time(
            (record.get("_meta") or {}).get("date") if isinstance(record.get("_meta"), dict) else None)
        if stamp is None:
            continue
        meta = record.get("_meta") if isinstance(record.get("_meta"), dict) else {}
        return LogFreshness(str(path), st.st_size, st.st_mtime, stamp,
                            str(meta.get("logLevelName") or ""), str(record.get("message") or "")[:300])
    return LogFreshness(str(path), st.st_size, st.st_mtime,
                        error="no timestamped line in the last part of the file")
