"""Is the process that owns a session, a task or the gateway lease still there?

The gateway records an owner as (pid, host, start time in clock ticks from
/proc/<pid>/stat), and calls it dead when the pid is gone or its start time no
longer matches (the pid was reused). Same rule here, read-only. A pid on another
host, or one this user may not inspect in detail, is "unknown", never "dead":
only a provably gone owner may make a session dead.
"""

from __future__ import annotations

import socket
from pathlib import Path

from ctoops.subproc import pid_exists

LIVE, DEAD, UNKNOWN = "live", "dead", "unknown"


def start_ticks(pid: int, proc: Path = Path("/proc")) -> int | None:
    """Field 22 of /proc/<pid>/stat (after the command name, which may hold spaces)."""
    try:
        raw = (proc / str(pid) / "stat").read_bytes()
    except OSError:
        return None
    fields = raw[raw.rfind(b")") + 2:].split()
    try:
        return int(fields[19])
    except (IndexError, ValueError):
        return None


def _state(pid: int, proc: Path) -> str | None:
    try:
        raw = (proc / str(pid) / "stat").read_bytes()
    except OSError:
        return None
    fields = raw[raw.rfind(b")") + 2:].split()
    return fields[0].decode("ascii", "replace") if fields else None


def pid_status(pid: int, started: int | None = None, host: str | None = None,
               proc: Path = Path("/proc")) -> str:
    """live | dead | unknown for one owner record."""
    if pid <= 0:
        return UNKNOWN
    if host is not None and host != socket.gethostname():
        return UNKNOWN
    exists = pid_exists(pid)
    if exists is None:
        return UNKNOWN
    if not exists:
        return DEAD
    if _state(pid, proc) in ("Z", "X"):
        return DEAD  # exited, not yet reaped: it owns nothing any more
    if started is not None:
        now_ticks = start_ticks(pid, proc)
        if now_ticks is None:
            return UNKNOWN
        return LIVE if now_ticks == started else DEAD
    return LIVE
