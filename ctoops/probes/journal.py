"""journald entries of the gateway's unit, from a cursor (`journalctl --after-cursor`).

Only entries up to `max_priority` (default 4, warning) are asked for: systemd's
own lines about the unit ("Failed with result ...", "Main process exited") sit
there, while the gateway's stdout arrives at priority 6 and is already counted
from its log files. journalctl runs as an argv list with a deadline; its output
is read as it comes and cut at the byte budget (journalctl is then stopped, and
the cursor of the last whole entry read is where the next run resumes). No
journal on this host (no journald, no journalctl) is a note, not a failure.
"""

from __future__ import annotations

import json
import os
import selectors
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from ctoops.probes.errorevent import ABSENT, FAILED, PRESENT, ErrorEvent, SourceRead
from ctoops.subproc import stop_group

SOURCE = "journal"
JOURNAL_DIRS = (Path("/run/systemd/journal"), Path("/var/log/journal"), Path("/run/log/journal"))
MAX_MESSAGE_CHARS = 2000


def journal_present(dirs: tuple[Path, ...] = JOURNAL_DIRS) -> bool:
    """journald runs (its socket folder) or has left journal files here."""
    for folder in dirs:
        try:
            if folder.is_dir() and any(folder.iterdir()):
                return True
        except OSError:
            continue
    return False


def build_argv(unit: str, scope: str, cursor: str | None, since_ts: float, max_priority: int,
               directory: str = "") -> list[str]:
    argv = ["journalctl"]
    if directory:
        argv += ["--directory", directory]
    argv += ["--user-unit" if scope == "user" else "--unit", unit, "--output", "json",
             "--no-pager", f"--priority=0..{max_priority}"]
    if cursor:
        argv += ["--after-cursor", cursor]
    else:
        argv += ["--since", f"@{int(since_ts)}"]
    return argv


def read_journal(unit: str, scope: str, cursor: str | None, since_ts: float,
                 max_priority: int, max_bytes: int, timeout_s: float,
                 directory: str = "") -> SourceRead:
    """New entries after `cursor` (first run: since `since_ts`)."""
    if directory:
        if not Path(directory).is_dir():
            return SourceRead(SOURCE, ABSENT, notes=(f"no journal folder {directory}",),
                              cursor=_keep(cursor))
    elif shutil.which("journalctl") is None or not journal_present():
        return SourceRead(SOURCE, ABSENT, notes=("no journald on this host (no journal "
                                                 "files or journalctl): journal not read",),
                          cursor=_keep(cursor))
    argv = build_argv(unit, scope, cursor, since_ts, max_priority, directory)
    out, err, rc, cut = _bounded_run(argv, max_bytes, timeout_s)
    if rc is None and not cut:
        return SourceRead(SOURCE, FAILED, notes=(f"{argv[0]} could not run: {err}",),
                          cursor=_keep(cursor))
    if rc not in (0, None) and not out:
        if cursor and "cursor" in err.lower():
            return SourceRead(SOURCE, FAILED, notes=(
                f"journal cursor no longer valid ({err.strip()[:200]}): starting afresh "
                "next run",), cursor=None)
        return SourceRead(SOURCE, FAILED, notes=(
            f"journalctl exited {rc}: {err.strip()[:300]}",), cursor=_keep(cursor))
    events: list[ErrorEvent] = []
    bad = 0
    last_cursor = cursor
    lines = out.split(b"\n")
    if lines and lines[-1]:
        lines.pop()  # cut mid-entry: the next run reads it from the cursor
    for raw in lines:
        if not raw.strip():
            continue
        try:
            entry = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            bad += 1
            continue
        if not isinstance(entry, dict):
            bad += 1
            continue
        if isinstance(entry.get("__CURSOR"), str):
            last_cursor = entry["__CURSOR"]
        event = _event(entry, unit, max_priority, since_ts)
        if event is not None:
            events.append(event)
    notes = ("journalctl output reached the byte budget or the deadline; the rest is read "
             "next run",) if cut else ()
    return SourceRead(SOURCE, PRESENT, tuple(events), _keep(last_cursor), len(out),
                      len(lines), bad, 0, notes)


def _keep(cursor: str | None) -> dict[str, str] | None:
    return {"cursor": cursor} if cursor else None


def _event(entry: dict[str, object], unit: str, max_priority: int, fallback_ts: float
           ) -> ErrorEvent | None:
    try:
        priority = int(str(entry.get("PRIORITY", max_priority)))
    except ValueError:
        priority = max_priority
    if priority > max_priority:
        return None
    message = entry.get("MESSAGE")
    if isinstance(message, list):  # journald sends non-UTF-8 messages as byte arrays
        message = bytes(b for b in message if isinstance(b, int) and 0 <= b < 256).decode(
            "utf-8", "replace")
    if not isinstance(message, str) or not message:
        return None
    try:
        ts = int(str(entry.get("__REALTIME_TIMESTAMP"))) / 1e6
    except ValueError:
        ts = fallback_ts
    origin = next((v for k in ("_SYSTEMD_UNIT", "UNIT", "_SYSTEMD_USER_UNIT", "USER_UNIT",
                               "SYSLOG_IDENTIFIER")
                   if isinstance(v := entry.get(k), str) and v), unit)
    return ErrorEvent(ts, SOURCE, origin, message[:MAX_MESSAGE_CHARS])


def _bounded_run(argv: list[str], max_bytes: int, timeout_s: float
                 ) -> tuple[bytes, str, int | None, bool]:
    """Run argv, read at most max_bytes of stdout within timeout_s.
    Returns (stdout, stderr, returncode or None, cut short)."""
    with tempfile.TemporaryFile() as err_file:
        try:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=err_file, start_new_session=True, close_fds=True)
        except OSError as exc:
            return b"", str(exc.strerror or exc), None, False
        assert proc.stdout is not None
        chunks: list[bytes] = []
        size = 0
        cut = False
        deadline = time.monotonic() + timeout_s
        with selectors.DefaultSelector() as sel:
            sel.register(proc.stdout, selectors.EVENT_READ)
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    cut = True
                    break
                if not sel.select(left):
                    continue
                chunk = os.read(proc.stdout.fileno(), min(65536, max_bytes - size))
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
                if size >= max_bytes:
                    cut = True
                    break
        if cut:
            stop_group(proc)
        proc.stdout.close()
        try:
            rc: int | None = proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            stop_group(proc)
            rc = None
        err_file.seek(0)
        err = err_file.read(4000).decode("utf-8", "replace")
    return b"".join(chunks), err, (None if cut else rc), cut
