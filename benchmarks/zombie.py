"""zombie-report's verdict vs `openclaw gateway probe --json`, same live gateway.

    CTOOPS_OPENCLAW_DIR=/tmp/gwcache python -m benchmarks.zombie [--rounds N] [--json]

Starts a real OpenClaw 2026.9.6 gateway on a free loopback port (the integration
suite's helper), then runs, interleaved: `python -m ctoops --json zombie-report`
against it, and `openclaw gateway probe --json --port P` (the gateway's own CLI
probe) with a HOME of its own and no profile, its cheapest form (with `--dev`,
which loads the dev profile's config and plugins, it took 7-10 s and ~390 MB here).
Goal (issue 9): the verdict at least 20x faster and 10x smaller than the probe.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from benchmarks.common import (
    Case,
    Options,
    Row,
    both,
    compile_checkout,
    interleaved,
    judge,
    openclaw_install,
    repo_env,
    skipped,
)

BENCH = "zombie-report"
SPEED_GOAL = 20.0
MEMORY_GOAL = 10.0
GOAL = f">= {SPEED_GOAL:g}x faster and >= {MEMORY_GOAL:g}x less peak RSS than the probe"


def _workspace(root: Path, url: str, state_dir: Path, log_dir: Path) -> Path:
    (root / "config").mkdir(parents=True)
    (root / "config" / "ctoops.yaml").write_text(json.dumps({  # JSON is YAML
        "gateway": {"health_url": url, "state_dir": str(state_dir), "log_dir": str(log_dir),
                    "process_name": "openclaw-gateway"},
        "notify": {"order": ["mc_output"]}}))
    return root


def rows(opts: Options) -> list[Row]:
    subject = "`openclaw gateway probe --json` (2026.9.6)"
    install = openclaw_install(opts.openclaw_dir, "gw96")  # puts the repo on sys.path
    if isinstance(install, str):
        return [skipped(BENCH, subject, install, GOAL)]
    from tests.integration.openclaw_gateway import start_gateway, stop_gateway

    compile_checkout()
    scratch = opts.workdir / "zombie"
    (scratch / "gw").mkdir(parents=True)
    (scratch / "probe-home").mkdir()
    gw = start_gateway(install, scratch / "gw")
    try:
        root = _workspace(scratch / "ws", gw.url, gw.state_dir, gw.log_dir)
        cases = [
            Case("zombie-report", [sys.executable, "-m", "ctoops", "--root", str(root), "--json",
                                   "zombie-report"], repo_env(), scratch,
                 ok_codes=(0, 1)),  # 1: degraded right after start-up on a busy box
            Case("openclaw-probe", [str(install.node), str(install.openclaw("gw96")), "gateway",
                                    "probe", "--json", "--port", str(gw.port)],
                 install.env(scratch / "probe-home", token=gw.spec.token), scratch, timeout_s=120),
        ]
        ours, probe = interleaved(cases, opts.n(9), warmup=1)
    finally:
        stop_gateway(gw)
    speed = probe.wall().median / ours.wall().median
    memory = probe.rss().median / ours.rss().median
    verdict = both(judge(speed, SPEED_GOAL, "faster", at_least=True),
                   judge(memory, MEMORY_GOAL, "less memory", at_least=True))
    note = (f"zombie-report: {speed:.1f}x faster and {memory:.1f}x less peak RSS than "
            "`openclaw gateway probe --json` on the same live gateway; ctoops's own work is a "
            "small part of its time, most is interpreter start-up and imports (Typer and the "
            "pydantic it pulls in are in every ctoops command's floor).",)
    return [Row(BENCH, subject, probe, verdict="reference"),
            Row(BENCH, "`ctoops --json zombie-report` (verdict)", ours, GOAL, verdict, note)]


def main(argv: list[str] | None = None) -> int:
    from benchmarks.report import standalone

    return standalone(rows, __doc__, argv)


if __name__ == "__main__":
    sys.exit(main())
