"""Pressure stall information (PSI): how long tasks waited for CPU, memory or IO.

Percentages say how full a resource is; PSI says how much work is *stalled*
because of it, which is what an operator feels. Linux 4.20+ exposes it in
/proc/pressure/{cpu,memory,io} and per cgroup v2 in `<cgroup>/memory.pressure`;
the same parser reads both. Kernels without PSI (or with `psi=0`) have no such
files: that is a normal "not available" reading, never an error.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

RESOURCES = ("cpu", "memory", "io")


@dataclass(frozen=True)
class PsiLine:
    """One `some` or `full` line: share of wall time stalled, over 10 s, 60 s, 300 s."""

    avg10_percent: float
    avg60_percent: float
    avg300_percent: float
    total_us: int  # cumulative stall time in microseconds


@dataclass(frozen=True)
class PsiResource:
    some: PsiLine | None  # at least one task stalled
    full: PsiLine | None  # all non-idle tasks stalled (absent for system-wide cpu on old kernels)


@dataclass(frozen=True)
class Pressure:
    available: bool
    cpu: PsiResource | None
    memory: PsiResource | None
    io: PsiResource | None
    error: str = ""  # why a present file could not be used


def parse_psi(text: str) -> PsiResource:
    """Parse the PSI format; ValueError naming the bad line when it is not PSI."""
    lines: dict[str, PsiLine] = {}
    for raw in text.splitlines():
        if not raw.strip():
            continue
        kind, _, rest = raw.partition(" ")
        if kind not in ("some", "full"):
            raise ValueError(f"unexpected PSI line {raw[:80]!r}")
        fields: dict[str, str] = {}
        for part in rest.split():
            key, sep, value = part.partition("=")
            if not sep:
                raise ValueError(f"unexpected PSI field {part[:40]!r}")
            fields[key] = value
        try:
            lines[kind] = PsiLine(float(fields["avg10"]), float(fields["avg60"]),
                                  float(fields["avg300"]), int(fields["total"]))
        except (KeyError, ValueError) as exc:
            raise ValueError(f"unexpected PSI line {raw[:80]!r}: {exc}") from exc
    if not lines:
        raise ValueError("empty PSI file")
    return PsiResource(lines.get("some"), lines.get("full"))


def read_pressure(root: Path = Path("/proc/pressure")) -> Pressure:
    """Read PSI under `root` (a folder laid out like /proc/pressure)."""
    if not root.is_dir():
        return Pressure(False, None, None, None)
    found: dict[str, PsiResource | None] = {}
    errors: list[str] = []
    for name in RESOURCES:
        try:
            found[name] = parse_psi((root / name).read_text(encoding="ascii"))
        except FileNotFoundError:
            found[name] = None
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            # EOPNOTSUPP when the kernel was booted with psi=0: the file exists but
            # cannot be read. Either way this resource has no reading.
            found[name] = None
            errors.append(f"{root / name}: {getattr(exc, 'strerror', None) or exc}")
    available = any(v is not None for v in found.values())
    return Pressure(available, found["cpu"], found["memory"], found["io"], "; ".join(errors))
