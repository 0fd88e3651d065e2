"""What every retry-storm source hands back: error events, plus how the read went.

One shape for the gateway's log files, journald, the cron stores and the events
file, so the storm policy never knows where an error came from beyond a label.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

PRESENT, ABSENT, FAILED = "read", "absent", "failed"


@dataclass(frozen=True)
class ErrorEvent:
    """One error, as raw as it was seen (the policy fingerprints it)."""

    ts: float  # epoch seconds when it happened (the source's own time when it has one)
    source: str  # gateway_log | journal | cron | events
    origin: str  # the gateway subsystem, unit, tool name or "cron"
    message: str
    job: str | None = None  # a cron job id, when the error belongs to one
    fingerprint: str | None = None  # a key chosen by the writer (events file), else None


@dataclass(frozen=True)
class SourceRead:
    """One source's contribution to a run."""

    name: str
    status: str  # read | absent | failed
    events: tuple[ErrorEvent, ...] = ()
    cursor: dict[str, Any] | None = None  # the new cursor to keep (None: keep none)
    bytes_read: int = 0
    lines: int = 0
    bad_lines: int = 0  # lines that were not valid UTF-8 JSON objects: skipped, counted
    skipped_bytes: int = 0  # unread because of the per-run byte cap
    notes: tuple[str, ...] = ()
    detail: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "status": self.status, "events": len(self.events),
                "bytes_read": self.bytes_read, "lines": self.lines,
                "bad_lines": self.bad_lines, "skipped_bytes": self.skipped_bytes,
                "notes": list(self.notes), **self.detail}


def parse_time(value: Any, fallback: float) -> float:
    """Epoch seconds from an ISO 8601 string or a number (seconds, or milliseconds
    when it is too large to be seconds); `fallback` when it does not parse."""
    if isinstance(value, bool):
        return fallback
    if isinstance(value, (int, float)):
        try:
            number = float(value)
        except OverflowError:  # an integer of hundreds of digits
            return fallback
        if not math.isfinite(number):
            return fallback
        return number / 1000.0 if number > 1e11 else number
    if isinstance(value, str) and value:
        try:
            parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            return fallback
        try:
            if parsed.tzinfo is None:
                return parsed.astimezone().timestamp()  # local time, as a naive stamp means
            return parsed.timestamp()
        except (OverflowError, ValueError, OSError):  # year 1 or 9999 at a zone's edge
            return fallback
    return fallback
