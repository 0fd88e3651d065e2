"""Timing helpers shared by the benchmarks: run commands as real child processes,
interleaved over several rounds, and report medians with min/max.

Why child processes: the every-minute cost of ctoops is interpreter start-up plus
imports plus the work, and only a fresh process pays all three. Wall time comes
from perf_counter around spawn and reap; peak RSS from the child's own rusage
(`os.wait4`, ru_maxrss, KiB on Linux), so nothing else on the machine counts.
Interleaving (A, B, C, A, B, C, ...) spreads a noisy neighbour over every case
instead of charging it to whichever case ran at the time.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Case:
    """One command to measure: an argv list (never a shell string) and its setting."""

    name: str
    argv: list[str]
    env: dict[str, str] | None = None
    cwd: Path | None = None
    ok_codes: tuple[int, ...] = (0,)


@dataclass(frozen=True)
class Sample:
    wall_s: float
    cpu_s: float  # user + system time of the child: less sensitive to busy neighbours
    max_rss_bytes: int
    returncode: int


@dataclass
class Result:
    case: Case
    samples: list[Sample] = field(default_factory=list)

    def wall(self) -> Summary:
        return Summary.of([s.wall_s for s in self.samples])

    def cpu(self) -> Summary:
        return Summary.of([s.cpu_s for s in self.samples])

    def rss(self) -> Summary:
        return Summary.of([float(s.max_rss_bytes) for s in self.samples])


@dataclass(frozen=True)
class Summary:
    median: float
    low: float
    high: float
    n: int

    @classmethod
    def of(cls, values: Sequence[float]) -> Summary:
        return cls(statistics.median(values), min(values), max(values), len(values))


def repo_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment a benchmark child gets: this checkout first on PYTHONPATH,
    no CTOOPS_* settings leaking in from the caller's shell, and bytecode allowed
    (see `compile_checkout`)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("CTOOPS_") and k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    env.update(extra or {})
    return env


def compile_checkout(package: str = "ctoops") -> None:
    """Write the checkout's .pyc files first. An installed ctoops has them (pip
    compiles on install); a checkout run under PYTHONDONTWRITEBYTECODE=1 would
    otherwise be measured compiling itself from source on every run."""
    import compileall

    if not compileall.compile_dir(str(REPO / package), quiet=1):
        raise RuntimeError(f"cannot byte-compile {REPO / package}")


def measure(case: Case) -> Sample:
    """Run `case` once; its wall time and its own peak RSS."""
    start = time.perf_counter()
    proc = subprocess.Popen(case.argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, env=case.env, cwd=case.cwd)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
    stderr = proc.stderr.read() if proc.stderr else b""
    if proc.stderr:
        proc.stderr.close()
    if proc.returncode not in case.ok_codes:
        raise RuntimeError(f"{case.name}: exit {proc.returncode}: "
                           f"{stderr.decode('utf-8', 'replace')[-2000:]}")
    return Sample(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss * 1024, proc.returncode)


def interleaved(cases: Sequence[Case], rounds: int, warmup: int = 1) -> list[Result]:
    """Each round runs every case once, in the same order; warm-up rounds (page
    cache, .pyc files) are run and thrown away."""
    results = [Result(c) for c in cases]
    for i in range(warmup + rounds):
        for result in results:
            sample = measure(result.case)
            if i >= warmup:
                result.samples.append(sample)
    return results


def table(results: Sequence[Result], baseline: str | None = None,
          out: object = sys.stdout) -> None:
    """Medians with [min-max]; with `baseline`, each case's median ratios to it."""
    base = next((r for r in results if r.case.name == baseline), None)
    width = max(len(r.case.name) for r in results)
    write = out.write  # type: ignore[attr-defined]
    write(f"{'case':<{width}}  {'wall ms median [min-max]':<26}  {'cpu ms median [min-max]':<26}"
          f"  {'peak RSS MiB median [min-max]':<29}" + ("  x baseline wall/cpu" if base else "")
          + "\n")
    for r in results:
        w, c, m = r.wall(), r.cpu(), r.rss()
        line = (f"{r.case.name:<{width}}  {w.median * 1e3:7.1f} [{w.low * 1e3:6.1f}-"
                f"{w.high * 1e3:6.1f}]     {c.median * 1e3:7.1f} [{c.low * 1e3:6.1f}-"
                f"{c.high * 1e3:6.1f}]     {m.median / 2**20:6.1f} [{m.low / 2**20:5.1f}-"
                f"{m.high / 2**20:5.1f}]      ")
        if base:
            line += (f"  {w.median / base.wall().median:5.2f}x"
                     f" / {c.median / base.cpu().median:4.2f}x")
        write(line.rstrip() + "\n")
