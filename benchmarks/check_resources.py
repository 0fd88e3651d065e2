"""Benchmark: the every-minute path (`ctoops --json check resources`) and the
spawn gate (`ctoops gate spawn`) against two floors, interleaved in every round.

    python -m benchmarks.check_resources [--rounds 15] [--json] [--check]

Cases, one of each per round:
- `bare-psutil`: `python -c "import psutil; psutil.virtual_memory()"`;
- `typer-floor`: a minimal Typer app with one command that imports psutil and
  samples memory (what any Typer + psutil tool pays at least: in this Typer
  version that includes pydantic and rich);
- `check-resources`: the real every-minute run on a scratch workspace in steady
  state (the first, state-creating runs are warm-up). A stand-in gateway process
  (`sleep` under the configured process name) runs for the whole benchmark, so the
  run finds "its" gateway the way it does on a host, and the gateway's memory
  cgroup is a fixed folder (no restart can be wanted);
- `gate-spawn`: `ctoops gate spawn` on the same workspace (its state file is the
  one the check keeps rewriting).

Goals (issue 12): check resources at most 1.5x the Typer floor's median wall time
and at most 40 MiB peak RSS (its ratio to the bare floor is shown too); gate spawn
at most 1.2x the Typer floor. When over, look at what the path imports:
`python -X importtime -m ctoops --json check resources`.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `benchmarks.common` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import (
    MIB,
    Case,
    Options,
    Result,
    Row,
    both,
    compile_checkout,
    interleaved,
    judge,
    repo_env,
)

BENCH = "every-minute path"
GATE = "spawn gate"
WALL_RATIO_GOAL = 1.5
RSS_GOAL_BYTES = 40 * MIB
GATE_RATIO_GOAL = 1.2
GATEWAY_NAME = "ctoops-bench-gateway"

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

CONFIG = f"""\
# a small, realistic workspace config: what an operator changes
gateway:
  process_name: {GATEWAY_NAME}
  cgroup: cgroup
  restart_command: ["true"]
notify:
  order: [mc_output]
resources:
  gpu_enabled: true
"""


def _cgroup(folder: Path) -> None:
    """A cgroup v2 memory folder of a gateway well under its MemoryHigh=."""
    folder.mkdir(parents=True)
    files = {"memory.current": f"{300 * MIB}\n", "memory.high": f"{2048 * MIB}\n",
             "memory.max": "max\n", "memory.events": "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n",
             "memory.stat": f"anon {200 * MIB}\nfile {100 * MIB}\n",
             "memory.pressure": "some avg10=0.00 avg60=0.00 avg300=0.00 total=0\n"
                                "full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n"}
    for name, text in files.items():
        (folder / name).write_text(text)


def workspace(scratch: Path) -> Path:
    root = scratch / "ws"
    (root / "config").mkdir(parents=True)
    (root / "config" / "ctoops.yaml").write_text(CONFIG)
    _cgroup(root / "cgroup")
    return root


def start_gateway() -> subprocess.Popen[bytes]:
    """A long-lived process whose argv[0] is the configured gateway name."""
    sleep = shutil.which("sleep") or "/bin/sleep"
    return subprocess.Popen([GATEWAY_NAME, "3600"], executable=sleep,
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)


def cases(scratch: Path) -> list[Case]:
    root = workspace(scratch)
    floor = scratch / "floor_app.py"
    floor.write_text(FLOOR_APP)
    env = repo_env()
    py = sys.executable
    ctoops = [py, "-m", "ctoops", "--root", str(root)]
    return [
        Case("bare-psutil", [py, "-c", "import psutil; psutil.virtual_memory()"], env, scratch),
        Case("typer-floor", [py, str(floor)], env, scratch),
        Case("check-resources", [*ctoops, "--json", "check", "resources"], env, scratch,
             ok_codes=(0, 1, 2)),  # Nagios codes: the host's state is not ours
        Case("gate-spawn", [*ctoops, "gate", "spawn"], env, scratch, ok_codes=(0, 1)),
    ]


def measure_all(opts: Options) -> list[Result]:
    compile_checkout()
    scratch = opts.workdir / "every-minute"
    scratch.mkdir(parents=True)
    gateway = start_gateway()
    try:
        return interleaved(cases(scratch), opts.n(15, 30), warmup=1 if opts.quick else 2)
    finally:
        gateway.kill()
        gateway.wait()


def rows(opts: Options) -> list[Row]:
    by = {r.case.name: r for r in measure_all(opts)}
    bare, floor = by["bare-psutil"], by["typer-floor"]
    check, gate = by["check-resources"], by["gate-spawn"]
    fw, fc = floor.wall().median, floor.cpu().median
    ratio = check.wall().median / fw
    peak = check.rss().high
    gate_ratio = gate.wall().median / fw
    return [
        Row(BENCH, "floor: `python -c 'import psutil; psutil.virtual_memory()'`", bare,
            verdict="reference"),
        Row(BENCH, "floor: one-command Typer app sampling psutil", floor, verdict="reference"),
        Row(BENCH, "`ctoops --json check resources`", check,
            f"<= {WALL_RATIO_GOAL}x Typer floor wall; <= {RSS_GOAL_BYTES // MIB} MiB peak RSS",
            both(judge(ratio, WALL_RATIO_GOAL, "Typer floor"),
                 judge(peak / MIB, RSS_GOAL_BYTES / MIB, "", unit="MiB")),
            (f"check resources: {ratio:.2f}x the Typer floor's wall time "
             f"({check.cpu().median / fc:.2f}x its CPU time), "
             f"{check.wall().median / bare.wall().median:.1f}x the bare psutil floor's. ctoops "
             "is started as `python -m ctoops` (runpy: ~2-3 ms that the installed `ctoops` "
             "script the timers run does not pay).",)),
        Row(GATE, "`ctoops gate spawn`", gate, f"<= {GATE_RATIO_GOAL}x Typer floor wall",
            judge(gate_ratio, GATE_RATIO_GOAL, "Typer floor"),
            (f"gate spawn: {gate_ratio:.2f}x the Typer floor's wall time "
             f"({gate.cpu().median / fc:.2f}x its CPU time).",)),
    ]


def main(argv: list[str] | None = None) -> int:
    from benchmarks.report import standalone

    return standalone(rows, __doc__, argv)


if __name__ == "__main__":
    sys.exit(main())
