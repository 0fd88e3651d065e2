"""The audit trail a reviewer can trust (R16, R26, R28).

`logs/cto-ops-audit.log` holds one JSON object per line, each carrying the sha256
of the previous line (`prev`) and of its own exact bytes (`hash`), so an edit, a
deletion or a reorder is caught by `ctoops audit verify`. The hash covers the
record's bytes as written, everything up to the `,"hash":"…"}` suffix, so no
canonical-JSON rules are needed to check it. Appends happen under the workspace
lock, one write() per record; a torn last line (a crash mid-write) is moved aside
before the next append and reported as torn, never as tampering.

`docs/AGENT_AUDIT_LOG.md` gets one table row per event for people, and
`memory/lessons.md` gets what a decision taught, both through this module.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ctoops.clock import iso
from ctoops.redaction import scrub, scrub_obj
from ctoops.workspace import Workspace, append_record

GENESIS = "0" * 64
_HASH_SUFFIX_LEN = len(',"hash":""}') + 64
OUTCOMES = ("done", "refused", "needs_approval", "dry_run", "failed", "outcome_unknown",
            "observed", "approved", "denied", "expired", "quarantined", "alerted")


@dataclass(frozen=True)
class AuditEvent:
    """One decision or action, as the audit log and the Markdown summary show it."""

    command: str
    subsystem: str
    risk: str  # none | low | medium | high
    action: str
    outcome: str
    reason: str
    details: dict[str, Any] = field(default_factory=dict)
    auto: bool = False


def _sha256(data: bytes) -> str:
    """hashlib is imported where a record is written or checked, not with the
    module: most every-minute runs write none, and `gate` never does."""
    import hashlib

    return hashlib.sha256(data).hexdigest()


def _user() -> str:
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())


def _hostname() -> str:
    import socket

    return socket.gethostname()


def _record_bytes(event: AuditEvent, ts: float, prev: str) -> bytes:
    record: dict[str, Any] = {
        "ts": iso(ts),
        "ts_epoch": round(ts, 3),
        "host": _hostname(),
        "pid": os.getpid(),
        "user": _user(),
        "command": event.command,
        "subsystem": event.subsystem,
        "risk": event.risk,
        "action": event.action,
        "outcome": event.outcome,
        "reason": scrub(event.reason),
        "details": scrub_obj(event.details),
    }
    if event.auto:
        record["auto"] = True
    record["prev"] = prev
    body = json.dumps(record, ensure_ascii=False, separators=(",", ":"), default=str)
    assert body.endswith("}")
    body_bytes = body[:-1].encode("utf-8")
    digest = _sha256(body_bytes)
    return body_bytes + f',"hash":"{digest}"}}\n'.encode()


def _tail(path: Path, max_bytes: int = 1 << 20) -> bytes:
    with path.open("rb") as fh:
        fh.seek(0, os.SEEK_END)
        size = fh.tell()
        fh.seek(max(0, size - max_bytes))
        return fh.read()


def _last_hash_and_repair(path: Path, now: float) -> tuple[str, dict[str, Any] | None]:
    """The hash the next record chains to; a torn tail is moved to a sidecar file
    (nothing is lost) and the file cut back to its last whole line."""
    if not path.exists() or path.stat().st_size == 0:
        return GENESIS, None
    data = _tail(path)
    repair = None
    if not data.endswith(b"\n"):
        cut = data.rfind(b"\n") + 1  # 0 when the only line is torn
        fragment = data[cut:]
        size = path.stat().st_size
        keep = size - len(fragment)
        sidecar = path.with_name(f"{path.name}.torn-{int(now * 1000)}")
        append_record(sidecar, fragment)
        os.truncate(path, keep)
        repair = {"torn_bytes": len(fragment), "moved_to": sidecar.name, "at_offset": keep}
        data = data[:cut]
    lines = data.splitlines()
    if not lines:
        return GENESIS, repair
    last = lines[-1]
    if last.endswith(b'"}') and len(last) >= _HASH_SUFFIX_LEN:
        return last[-66:-2].decode("ascii", "replace"), repair
    return _sha256(last), repair


def append_events(ws: Workspace, events: list[AuditEvent], now: float) -> None:
    """Append events to the chained log and the Markdown summary. Call under the lock."""
    if not events:
        return
    ws.ensure_dirs()
    prev, repair = _last_hash_and_repair(ws.audit_log, now)
    if repair is not None:
        events = [AuditEvent("audit", "audit", "low", "repair_torn_tail", "done",
                             "a crash left a partial audit line; it was moved aside", repair),
                  *events]
    for event in events:
        line = _record_bytes(event, now, prev)
        append_record(ws.audit_log, line)
        prev = line[-67:-3].decode("ascii")
        _append_md_row(ws, event, now)


_MD_HEADER = (
    "# AGENT_AUDIT_LOG\n\n"
    "Human-readable summary of every audited ctoops event (R28). The full record, "
    "hash-chained, is logs/cto-ops-audit.log.\n\n"
    "| time (UTC) | command | subsystem | risk | action | outcome | reason |\n"
    "|---|---|---|---|---|---|---|\n"
)


def _md_cell(text: str, limit: int = 300) -> str:
    text = scrub(text).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _append_md_row(ws: Workspace, event: AuditEvent, now: float) -> None:
    header = b"" if ws.audit_md.exists() else _MD_HEADER.encode()
    auto = " (auto)" if event.auto else ""
    row = (f"| {iso(now)} | {_md_cell(event.command)} | {_md_cell(event.subsystem)} | "
           f"{_md_cell(event.risk)} | {_md_cell(event.action)}{auto} | "
           f"{_md_cell(event.outcome)} | {_md_cell(event.reason)} |\n")
    append_record(ws.audit_md, header + row.encode("utf-8"))


def append_lesson(ws: Workspace, title: str, body: str, now: float) -> None:
    """R26: what a health decision taught, for the next person. Call under the lock."""
    ws.ensure_dirs()
    header = b"" if ws.lessons_md.exists() else (
        b"# Lessons\n\nWhat ctoops's health decisions taught (R26), newest last.\n")
    text = f"\n## {iso(now)} {scrub(title)}\n\n{scrub(body).rstrip()}\n"
    append_record(ws.lessons_md, header + text.encode("utf-8"))


@dataclass(frozen=True)
class VerifyResult:
    lines: int
    ok: bool
    bad_line: int | None = None
    problem: str = ""
    torn_tail: bool = False
    sidecars: tuple[str, ...] = ()


def verify(path: Path) -> VerifyResult:
    """Walk the chain; the first line whose bytes or link do not match is named."""
    sidecars = tuple(sorted(p.name for p in path.parent.glob(path.name + ".torn-*")))
    if not path.exists():
        return VerifyResult(0, True, sidecars=sidecars)
    data = path.read_bytes()
    torn = bool(data) and not data.endswith(b"\n")
    lines = data.split(b"\n")
    if not torn:
        lines = lines[:-1]  # the empty piece after the last newline
    prev = GENESIS
    whole = lines[:-1] if torn else lines
    for number, line in enumerate(whole, start=1):
        problem = _check_line(line, prev)
        if problem:
            return VerifyResult(len(whole), False, number, problem, torn, sidecars)
        prev = line[-66:-2].decode("ascii")
    return VerifyResult(len(whole), True, None, "", torn, sidecars)


def _check_line(line: bytes, prev: str) -> str:
    if len(line) < _HASH_SUFFIX_LEN or not line.endswith(b'"}'):
        return "not a whole audit record"
    body, suffix = line[:-_HASH_SUFFIX_LEN], line[-_HASH_SUFFIX_LEN:]
    if not suffix.startswith(b',"hash":"'):
        return "no hash field at the end of the record"
    stated = suffix[9:73].decode("ascii", "replace")
    if _sha256(body) != stated:
        return "record bytes do not match their hash (edited)"
    try:
        record = json.loads(line)
    except (ValueError, RecursionError):
        return "record is not valid JSON"
    if record.get("prev") != prev:
        return "chain broken: prev does not match the line before (deleted or reordered)"
    return ""


def read_tail(path: Path, count: int) -> list[dict[str, Any]]:
    """The last `count` whole records, oldest first."""
    if not path.exists():
        return []
    out: list[dict[str, Any]] = []
    for line in _tail(path).splitlines()[-count:]:
        try:
            out.append(json.loads(line))
        except (ValueError, RecursionError):
            continue  # a torn or foreign line: `audit verify` is the tool that reports it
    return out
