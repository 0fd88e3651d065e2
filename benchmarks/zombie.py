"""zombie-report's verdict vs `openclaw gateway probe --json`, same live gateway, same run.

    CTOOPS_OPENCLAW_DIR=/tmp/gwcache python -m benchmarks.zombie [--rounds N] [--json]

Starts a real OpenClaw 2026.9.6 gateway on a free loopback port (the integration
fixture's helper), then runs, interleaved, N times each:
  - `python -m ctoops --json zombie-report` (the same Typer app as the console script),
  - `openclaw gateway probe --json --port P` (the gateway's own CLI probe), run with
    a HOME of its own and no profile: its cheapest form (with `--dev`, which loads
    the dev profile's config and plugins, it took 7-10 s and ~390 MB here).
Wall time and peak RSS are measured per child by a tiny `python -S` launcher that
forks, execs and reads the child's own rusage (wait4): a child forked straight from
this (larger) process would report this process's RSS as its peak. Goal (issue 9):
the verdict at least 20x faster and 10x smaller than the probe. Medians reported.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.integration.openclaw_gateway import (  # noqa: E402  (needs the repo on sys.path)
    OpenClawInstall,
    RunningGateway,
    find_install,
    start_gateway,
    stop_gateway,
)

LAUNCHER = r"""
import json, os, sys, time
argv, env, cwd = json.loads(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[3]
start = time.perf_counter()
pid = os.fork()
if pid == 0:
    try:
        out = os.open(os.devnull, os.O_WRONLY)
        os.dup2(out, 1)
        os.dup2(out, 2)
        os.chdir(cwd)
        os.execve(argv[0], argv, env)
    finally:
        os._exit(127)
_, status, usage = os.wait4(pid, 0)
print(json.dumps({"wall_s": time.perf_counter() - start, "peak_rss_kb": usage.ru_maxrss,
                  "rc": os.waitstatus_to_exitcode(status)}))
"""


def measure(argv: list[str], env: dict[str, str], cwd: Path) -> dict[str, Any]:
    out = subprocess.run([sys.executable, "-S", "-c", LAUNCHER, json.dumps(argv), json.dumps(env),
                          str(cwd)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def workspace(root: Path, gw: RunningGateway) -> Path:
    (root / "config").mkdir(parents=True)
    (root / "config" / "ctoops.yaml").write_text(json.dumps({  # JSON is YAML
        "gateway": {"health_url": gw.url, "state_dir": str(gw.state_dir),
                    "log_dir": str(gw.log_dir), "process_name": "openclaw-gateway"},
        "notify": {"order": ["mc_output"]}}))
    return root


def commands(install: OpenClawInstall, gw: RunningGateway, root: Path, probe_home: Path
             ) -> dict[str, tuple[list[str], dict[str, str]]]:
    py_env = {k: v for k, v in os.environ.items() if not k.startswith("CTOOPS_")}
    py_env["PYTHONPATH"] = str(REPO)
    verdict = ["--root", str(root), "--json", "zombie-report"]
    return {
        "ctoops zombie-report (python -m ctoops)": (
            [sys.executable, "-m", "ctoops", *verdict], py_env),
        "openclaw gateway probe --json": (
            [str(install.node), str(install.openclaw("gw96")), "gateway", "probe", "--json",
             "--port", str(gw.port)], install.env(probe_home, token=gw.spec.token)),
    }


def run(rounds: int) -> dict[str, Any]:
    install, why = find_install()
    if install is None:
        raise SystemExit(f"benchmark needs the real gateway: {why}")
    with tempfile.TemporaryDirectory(prefix="ctoops-bench-") as tmp:
        base = Path(tmp)
        (base / "gw").mkdir()
        gw = start_gateway(install, base / "gw")  # token auth: the probe is given the token
        try:
            root = workspace(base / "ws", gw)
            (base / "probe-home").mkdir()
            cmds = commands(install, gw, root, base / "probe-home")
            samples: dict[str, list[dict[str, Any]]] = {name: [] for name in cmds}
            for name, (argv, env) in cmds.items():  # warm caches once, and check it works
                first = measure(argv, env, base)
                if first["rc"] not in ((0, 1) if name.startswith("ctoops") else (0,)):
                    # ctoops: 0 healthy, 1 degraded (a busy box right after start-up):
                    # either is a verdict and the same work; 2/3 would mean it is broken
                    raise SystemExit(f"{name} failed (rc={first['rc']}): {argv}")
            for _ in range(rounds):
                for name, (argv, env) in cmds.items():
                    samples[name].append(measure(argv, env, base))
        finally:
            stop_gateway(gw)
    result: dict[str, Any] = {"rounds": rounds, "cpus": os.cpu_count(),
                              "load_avg": os.getloadavg(), "results": {}}
    for name, runs in samples.items():
        result["results"][name] = {
            "wall_ms_median": round(1000 * statistics.median(r["wall_s"] for r in runs), 1),
            "peak_rss_mb_median": round(statistics.median(r["peak_rss_kb"] for r in runs) / 1024, 1),
            "exit_codes": sorted({r["rc"] for r in runs})}
    probe = result["results"]["openclaw gateway probe --json"]
    for res in result["results"].values():
        res["x_faster_than_probe"] = round(probe["wall_ms_median"] / res["wall_ms_median"], 1)
        res["x_less_memory_than_probe"] = round(probe["peak_rss_mb_median"]
                                                / res["peak_rss_mb_median"], 1)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--json", action="store_true", help="one JSON document on stdout")
    args = parser.parse_args()
    result = run(args.rounds)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"{args.rounds} rounds, {result['cpus']} CPUs, load average {result['load_avg']}")
    print(f"{'command':42} {'wall ms':>8} {'peak MB':>8} {'x faster':>9} {'x smaller':>9}")
    for name, r in result["results"].items():
        print(f"{name:42} {r['wall_ms_median']:8.1f} {r['peak_rss_mb_median']:8.1f} "
              f"{r['x_faster_than_probe']:9.1f} {r['x_less_memory_than_probe']:9.1f}")


if __name__ == "__main__":
    main()
