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
the slowest racer against that CPU-bound floor, beside 8 racing `gate spawn` runs
(which take no lock) measured the same way in the same rounds: the ratio of the
two is what the lock adds, whatever else the machine is doing.
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


def _racing(case: Case) -> Sample:
    """One race of RACERS copies of `case`: the last finish, the mean CPU per run, the
    largest peak RSS."""
    got = race([case] * RACERS)
    return Sample(max(s.wall_s for s in got), sum(s.cpu_s for s in got) / RACERS,
                  max(s.max_rss_bytes for s in got), 0)


def _over_floor(r: Result, n: int) -> float:
    """The last finish over the CPU-bound floor (RACERS x CPU per run / cores)."""
    return r.wall().median / (RACERS * r.cpu().median / min(n, RACERS))


def rows(opts: Options) -> list[Row]:
    compile_checkout()
    root = opts.workdir / "ws"
    (root / "config").mkdir(parents=True)
    (root / "config" / "ctoops.yaml").write_text("notify:\n  order: [mc_output]\n")
    base = [sys.executable, "-m", "ctoops", "--root", str(root)]
    env = repo_env()
    status = Case("status", [*base, "--json", "status"], env, opts.workdir)
    gate = Case("gate", [*base, "gate", "spawn"], env, opts.workdir)  # takes no lock
    one = Result(status)
    racing = Result(Case(f"{RACERS} racing", status.argv, env, opts.workdir))
    control = Result(Case(f"{RACERS} racing, no lock", gate.argv, env, opts.workdir))
    rounds = opts.n(5, 10)
    measure(status)  # warm-up: creates the state file
    _racing(status)
    for _ in range(rounds):
        one.samples.append(measure(status))
        racing.samples.append(_racing(status))
        control.samples.append(_racing(gate))
    verify = subprocess.run([*base, "audit", "verify"], env=env, capture_output=True,
                            text=True, timeout=60, check=False)
    n = cores()
    w1, c1, w8 = one.wall().median, one.cpu().median, racing.wall().median
    ratio = w8 / w1
    lock_cost = _over_floor(racing, n) / _over_floor(control, n)
    verdict = judge(ratio, GOAL, "one run")
    if ratio > GOAL:
        verdict += (f"; CPU-bound: {RACERS} runs on {n} cores need >= "
                    f"{RACERS * racing.cpu().median / min(n, RACERS) / w1:.1f}x one run; "
                    f"the lock adds {lock_cost:.2f}x over lock-free racers")
    notes = (f"lock contention: {RACERS} racing `status` runs x {rounds} rounds, all exit 0; "
             f"the last ends {ratio:.2f}x one run ({w8 * 1e3:.0f} vs {w1 * 1e3:.0f} ms; "
             f"{c1 * 1e3:.0f} ms CPU alone, {racing.cpu().median * 1e3:.0f} ms racing). Against "
             f"the CPU-bound floor ({RACERS} x CPU per run / {n} cores): {_over_floor(racing, n):.2f}x "
             f"for `status` (takes the lock), {_over_floor(control, n):.2f}x for `gate spawn` "
             f"(no lock), so the lock costs {lock_cost:.2f}x; `audit verify` afterwards: exit "
             f"{verify.returncode}.",)
    if verify.returncode != 0:
        verdict = f"MISSED (audit verify failed: {verify.stdout.strip()[:120]}); {verdict}"
    return [Row(BENCH, "`ctoops --json status`, one run alone", one, verdict="reference"),
            Row(BENCH, f"`ctoops --json status`, {RACERS} started at once (last to finish)", racing,
                f"all {RACERS} within {GOAL:g}x one run", verdict, notes),
            Row(BENCH, f"control: `ctoops gate spawn` (no lock), {RACERS} at once", control,
                verdict="reference")]


def main(argv: list[str] | None = None) -> int:
    from benchmarks.report import standalone

    return standalone(rows, __doc__, argv)


if __name__ == "__main__":
    sys.exit(main())
