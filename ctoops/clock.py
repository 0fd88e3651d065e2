"""The one injected clock.

Decisions never read the time themselves: commands ask the clock once and pass
`now` down. `monotonic_now` keeps a clock that moved backwards from reopening a
spent budget: time is never taken as earlier than the latest time already recorded.
"""

from __future__ import annotations

import os
import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Seconds since the epoch."""


class SystemClock:
    """Wall time; `CTOOPS_FAKE_NOW` (epoch seconds) pins it for tests and drills."""

    def now(self) -> float:
        pinned = os.environ.get("CTOOPS_FAKE_NOW")
        if pinned:
            return float(pinned)
        return time.time()


class FixedClock:
    """A clock for tests: it says what it is told."""

    def __init__(self, t: float) -> None:
        self.t = t

    def now(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


def monotonic_now(wall: float, latest_recorded: float) -> float:
    """The time decisions use: never before what the state already recorded."""
    return max(wall, latest_recorded)


def iso(ts: float) -> str:
    """Epoch seconds as ISO 8601 UTC with milliseconds (`2026-11-30T12:00:00.000Z`).
    Lives here, beside the clock, so cheap paths (`gate`) need not load the audit
    code for it; datetime is loaded on first use."""
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
