"""Benchmark: lock contention (R29, R30). 8 runs of `ctoops --json status` started
at once on one workspace, against one run alone.

    python -m benchmarks.contention [--rounds 5]

`status` reads and rewrites the state under the workspace lock (it resolves
expired intents), so 8 racing runs queue on the lock for as long as each holds
it. Per round: one run alone, then 8 started together (benchmarks.common.race);
the racing row's wall time is when the last of the 8 finished, its CPU time the
mean per run. Every run must exit 0, and the audit chain must verify afterwards.

Goal (issue 12): all 8 finish within 2x one run. On a machine with fewer than 8
cores that is out of reach for any CPU-bound start-up, lock or no lock: 8 runs
need at least 8 x (CPU per run) / cores of wall time. The row says so, and shows
the slowest racer against that CPU-bound floor, which is what the lock adds.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import (
    Case,
    Options,
    Result,
    Row,
    Sample,
    compile_checkout,
    judge,
    measure,
    race,
    repo_env,
)

BENCH = "lock contention"
RACERS = 8
GOAL = 2.0


def cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def rows(opts: Options) -> list[Row]:
    compile_checkout()
    root = opts.workdir / "ws"
    (root / "config").mkdir(parents=True)
    (root / "config" / "ctoops.yaml").write_text("notify:\n  order: [mc_output]\n")
    argv = [sys.executable, "-m", "ctoops", "--root", str(root), "--json", "status"]
    case = Case("status", argv, repo_env(), opts.workdir)
    one, racing = Result(case), Result(Case(f"{RACERS} racing", argv, repo_env(), opts.workdir))
    rounds = opts.n(5, 10)
    measure(case)  # warm-up: creates the state file
    race([case] * RACERS)
    for _ in range(rounds):
        one.samples.append(measure(case))
        got = race([case] * RACERS)
        racing.samples.append(Sample(max(s.wall_s for s in got), sum(s.cpu_s for s in got) / RACERS,
                                     max(s.max_rss_bytes for s in got), 0))
    verify = subprocess.run([*argv[:-2], "audit", "verify"], env=repo_env(), capture_output=True,
                            text=True, timeout=60, check=False)
    n = cores()
    w1, c1 = one.wall().median, one.cpu().median
    w8 = racing.wall().median
    cpu_floor = max(w1, RACERS * racing.cpu().median / min(n, RACERS))
    ratio, over_floor = w8 / w1, w8 / cpu_floor
    verdict = judge(ratio, GOAL, "one run")
    if ratio > GOAL and over_floor <= GOAL:
        verdict += (f"; CPU-bound on {n} cores: the last racer ends at {over_floor:.2f}x the "
                    f"{RACERS}-runs-of-CPU / {n}-cores floor")
    notes = (f"lock contention: {RACERS} racing `status` runs x {rounds} rounds, all exit 0; "
             f"slowest racer {w8 * 1e3:.0f} ms = {ratio:.2f}x one run ({w1 * 1e3:.0f} ms wall, "
             f"{c1 * 1e3:.0f} ms CPU); CPU-bound floor on {n} cores {cpu_floor * 1e3:.0f} ms, "
             f"so the lock and the rest of the racing cost {over_floor:.2f}x that; "
             f"`audit verify` afterwards: exit {verify.returncode}.",)
    if verify.returncode != 0:
        verdict = f"MISSED (audit verify failed: {verify.stdout.strip()[:120]}); {verdict}"
    return [Row(BENCH, "`ctoops --json status`, one run alone", one, verdict="reference"),
            Row(BENCH, f"`ctoops --json status`, {RACERS} started at once (last to finish)", racing,
                f"all {RACERS} within {GOAL:g}x one run", verdict, notes)]


def main(argv: list[str] | None = None) -> int:
    from benchmarks.report import standalone

    return standalone(rows, __doc__, argv)


if __name__ == "__main__":
    sys.exit(main())
