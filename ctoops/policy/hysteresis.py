"""Hysteresis for a metric checked every minute: enter a level only after N bad
samples in a row, leave it only after M good ones below a lower point.

Monit's "for N cycles", with a separate way down, so a value wobbling around a
threshold never flaps. Pure and generic: `check resources` keeps one LevelState
per metric in its state; anything else that judges a sampled value can too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ctoops.config import Threshold

LEVELS = ("none", "medium", "high")


@dataclass(frozen=True)
class LevelState:
    level: str = "none"
    over_medium: int = 0  # consecutive samples >= medium
    over_high: int = 0  # consecutive samples >= high
    under_medium: int = 0  # consecutive samples < medium (high -> medium)
    under_clear: int = 0  # consecutive samples < clear (any level -> none)

    @classmethod
    def from_dict(cls, raw: Any) -> LevelState:
        """The stored counters; anything unusable (an edited or older state) starts
        the metric afresh rather than failing the check."""
        if not isinstance(raw, dict) or raw.get("level") not in LEVELS:
            return cls()
        try:
            counts = [int(raw.get(k, 0) or 0) for k in
                      ("over_medium", "over_high", "under_medium", "under_clear")]
        except (TypeError, ValueError):
            return cls()
        return cls(raw["level"], *(max(0, c) for c in counts))

    def as_dict(self) -> dict[str, Any]:
        return {"level": self.level, "over_medium": self.over_medium,
                "over_high": self.over_high, "under_medium": self.under_medium,
                "under_clear": self.under_clear}


def step_level(st: LevelState, value: float | None, th: Threshold, enter: int, leave: int
               ) -> LevelState:
    """One sample through the hysteresis. None (no reading) changes nothing."""
    if value is None:
        return st
    over_m = st.over_medium + 1 if value >= th.medium else 0
    over_h = st.over_high + 1 if value >= th.high else 0
    under_m = st.under_medium + 1 if value < th.medium else 0
    under_c = st.under_clear + 1 if value < th.clear else 0
    level = st.level
    if over_h >= enter:
        level = "high"
    elif over_m >= enter and level == "none":
        level = "medium"
    elif level != "none" and under_c >= leave:
        level = "none"
    elif level == "high" and under_m >= leave:
        level = "medium"
    return LevelState(level, over_m, over_h, under_m, under_c)
