"""Benchmark: `python -m ctoops --json check resources` against its floors.

    python benchmarks/check_resources.py [--rounds 15] [--json] [--check]

Cases, interleaved in every round:
- `ctoops`: the real every-minute run on a scratch workspace (steady state: the
  first, state-creating run is a warm-up);
- `typer-floor`: a minimal Typer app with one command that imports psutil and
  samples memory (what any Typer + psutil tool pays at least);
- `bare-psutil`: `python -c "import psutil; psutil.virtual_memory()"`.

Goal (issue 5): ctoops's median wall time at most 1.5x the Typer floor, and at
most 40 MiB peak RSS. CPU time (user + system, from the child's rusage) is shown
beside the wall time: on a busy machine it moves far less, and a gap between the
two ratios is time spent waiting (the state file's fsyncs, the scheduler).
`--check` exits 1 when a goal is missed. When over, look at what the path
imports: `python -X importtime -m ctoops --json check resources`.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `benchmarks.common` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import Case, compile_checkout, interleaved, repo_env, table

WALL_RATIO_GOAL = 1.5
RSS_GOAL_BYTES = 40 << 20

FLOOR_APP = '''\
import typer

app = typer.Typer()


@app.command()
def sample() -> None:
    import psutil

    print(psutil.virtual_memory().percent)


if __name__ == "__main__":
    app()
'''


def cases(scratch: Path) -> list[Case]:
    root = scratch / "ws"
    (root / "config").mkdir(parents=True)
    (root / "config" / "ctoops.yaml").write_text("{}\n")
    floor = scratch / "floor_app.py"
    floor.write_text(FLOOR_APP)
    env = repo_env()
    py = sys.executable
    return [
        Case("ctoops", [py, "-m", "ctoops", "--root", str(root), "--json", "check", "resources"],
             env, scratch, ok_codes=(0, 1, 2)),  # Nagios codes: the host's state is not ours
        Case("typer-floor", [py, str(floor)], env, scratch),
        Case("bare-psutil", [py, "-c", "import psutil; psutil.virtual_memory()"], env, scratch),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument("--check", action="store_true", help="exit 1 when a goal is missed")
    args = parser.parse_args()
    compile_checkout()
    with tempfile.TemporaryDirectory(prefix="ctoops-bench-") as tmp:
        results = interleaved(cases(Path(tmp)), args.rounds, args.warmup)
    by = {r.case.name: r for r in results}
    ratio = by["ctoops"].wall().median / by["typer-floor"].wall().median
    cpu_ratio = by["ctoops"].cpu().median / by["typer-floor"].cpu().median
    rss = by["ctoops"].rss().median
    ok = ratio <= WALL_RATIO_GOAL and rss <= RSS_GOAL_BYTES
    if args.json:
        print(json.dumps({
            "rounds": args.rounds, "python": sys.version.split()[0],
            "cases": {r.case.name: {"wall_s": vars(r.wall()), "cpu_s": vars(r.cpu()),
                                    "max_rss_bytes": vars(r.rss())} for r in results},
            "wall_ratio_to_typer_floor": round(ratio, 3),
            "cpu_ratio_to_typer_floor": round(cpu_ratio, 3), "goal_wall_ratio": WALL_RATIO_GOAL,
            "goal_max_rss_bytes": RSS_GOAL_BYTES, "goals_met": ok}, indent=2))
    else:
        table(results, baseline="typer-floor")
        print(f"\nctoops / typer-floor wall (medians): {ratio:.2f}x (goal <= {WALL_RATIO_GOAL}x), "
              f"cpu {cpu_ratio:.2f}x; "
              f"ctoops peak RSS median {rss / 2**20:.1f} MiB (goal <= {RSS_GOAL_BYTES >> 20} MiB)"
              f" -> {'goals met' if ok else 'GOAL MISSED'}")
    return 1 if args.check and not ok else 0


if __name__ == "__main__":
    sys.exit(main())
