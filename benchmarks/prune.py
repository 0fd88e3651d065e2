"""Benchmark: the dead-cron-run prune (safe-restart step 2, R13) on generated
file-era stores, beside the gateway's own `openclaw sessions cleanup --dry-run
--store <file>` (2026.7.1, the last file-era release) on the same files.

    python -m benchmarks.prune [--full] [--rounds 5] [--openclaw-dir DIR]

Sizes: 10 and 100 MB (`--full` adds 200 MB; `--quick` only 10 MB; `--sizes 50,400`
for others). Per size,
interleaved round by round (each a fresh child process, see benchmarks/common.py):
- ctoops dry run: `prune_dead_runs(..., dry_run=True)` on the store;
- ctoops applied: the same on a fresh copy of the state folder (the copy is made
  before the timer starts);
- openclaw: `node openclaw.mjs sessions cleanup --dry-run --json --store <copy>`
  with its own HOME; skipped, saying why, without CTOOPS_OPENCLAW_DIR.
Goals (issue 12): at least 2x faster than openclaw, peak memory at most 3x the
file size, time linear in size (MB/s per size is reported). The interpreter's own
floor (`python -c "import ctoops.actions.dead_runs"`) is measured beside them.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
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
    openclaw_install,
    repo_env,
    skipped,
)
from benchmarks.stores import FileStore

BENCH = "dead-run prune"
SPEED_GOAL = 2.0
MEMORY_GOAL = 3.0  # x the file size
LINEAR_GOAL = 1.5  # most / least per-MB cost above the start-up floor, across sizes

# The measured ctoops side, as small as a child can be: step 2 of the safe restart.
CHILD = """\
import json, sys
from ctoops.actions.dead_runs import prune_dead_runs
from ctoops.config import load_config
step = prune_dead_runs(load_config(None), sys.argv[1], float(sys.argv[2]),
                       dry_run=sys.argv[3] != "apply")
s = step.as_dict()
print(json.dumps({"status": step.status, "removed": s["removed"],
                  "entries_before": s["entries_before"], "entries_after": s["entries_after"],
                  "bytes_before": s["bytes_before"], "bytes_after": s["bytes_after"]}))
"""


def sizes(opts: Options) -> tuple[int, ...]:
    return opts.sizes((10, 100), (10, 100, 200), (10,))


def _copy_state(src: Path, dst: Path) -> Any:
    def setup() -> None:
        shutil.rmtree(dst, ignore_errors=True)
        shutil.copytree(src, dst, symlinks=True)
    return setup


def _openclaw_case(opts: Options, store: FileStore, work: Path) -> Case | str:
    install = openclaw_install(opts.openclaw_dir, "gw71")
    if isinstance(install, str):
        return install
    folder = work / "openclaw"
    (folder / "home").mkdir(parents=True)
    target = folder / "sessions.json"
    shutil.copyfile(store.store, target)
    env = install.env(folder / "home", port=1)  # never reached: cleanup is offline
    return Case("openclaw", [str(install.node), str(install.openclaw("gw71")), "sessions",
                             "cleanup", "--dry-run", "--json", "--store", str(target)], env, folder)


def _summary(result: Result) -> dict[str, Any]:
    try:
        return json.loads(result.samples[-1].stdout)
    except (ValueError, IndexError):
        return {}


def measure_size(opts: Options, size_mb: int, with_floor: bool) -> tuple[FileStore, dict[str, Result],
                                                                          str]:
    store = opts.store_cache().file_store(size_mb)
    work = opts.workdir / f"{size_mb}mb"
    work.mkdir(parents=True)
    py, env = sys.executable, repo_env()
    now = str(store.now_ms)
    copy = work / "state"
    cases = [Case("dry", [py, "-c", CHILD, str(store.state_dir), now, "dry"], env, work),
             Case("apply", [py, "-c", CHILD, str(copy), now, "apply"], env, work,
                  setup=_copy_state(store.state_dir, copy))]
    if with_floor:
        cases.append(Case("floor", [py, "-c", "import ctoops.actions.dead_runs"], env, work))
    oc = _openclaw_case(opts, store, work)
    if isinstance(oc, Case):
        cases.append(oc)
    results = interleaved(cases, opts.n(5, 10), warmup=1)
    return store, {r.case.name: r for r in results}, oc if isinstance(oc, str) else ""


def rows(opts: Options) -> list[Row]:
    compile_checkout()
    out: list[Row] = []
    per_mb: list[tuple[float, float, float]] = []  # MB, MB/s, seconds per MB above the floor
    floor: Result | None = None
    for i, size_mb in enumerate(sizes(opts)):
        store, by, why_not = measure_size(opts, size_mb, with_floor=i == 0)
        floor = by.get("floor", floor)
        out += _size_rows(store, by, why_not, floor)
        mb, dry = store.size_bytes / 1e6, by["dry"]
        base = floor.wall().median if floor else 0.0
        per_mb.append((mb, mb / dry.wall().median, (dry.wall().median - base) / mb))
    if floor is not None:
        out.append(Row(BENCH, "floor: `python -c 'import ctoops.actions.dead_runs'`", floor,
                       verdict="reference"))
    out.append(_linearity(per_mb))
    return out


def _size_rows(store: FileStore, by: dict[str, Result], why_not: str,
               floor: Result | None) -> list[Row]:
    mb = store.size_bytes / 1e6
    label = f"{mb:.0f} MB store ({store.entries} entries, {store.dead} dead runs)"
    dry, apply, oc = by["dry"], by["apply"], by.get("openclaw")
    removed = _summary(dry).get("removed")
    found = (f"found all {store.dead} generated dead runs" if removed == store.dead else
             f"WRONG: found {removed} dead runs, {store.dead} generated")
    notes = [f"prune, {label}: ctoops dry run {mb / dry.wall().median:.0f} MB/s, applied "
             f"{mb / apply.wall().median:.0f} MB/s; {found}."]
    if floor is not None:
        above = [(r.rss().high - floor.rss().high) / store.size_bytes for r in (dry, apply)]
        notes.append(f"prune, {label}: peak RSS above the {floor.rss().high / MIB:.0f} MiB "
                     f"interpreter floor: {above[0]:.2f}x the file (dry run), "
                     f"{above[1]:.2f}x (applied).")
    dry_mem = judge(dry.rss().high / store.size_bytes, MEMORY_GOAL, "file size")
    subject = f"`openclaw sessions cleanup --dry-run --store` (2026.7.1): {label}"
    if oc is None:
        verdict = f"{dry_mem}; speed not compared (openclaw skipped)"
        oc_row = skipped(BENCH, subject, why_not)
    else:
        speed = oc.wall().median / dry.wall().median
        verdict = both(judge(speed, SPEED_GOAL, "faster than openclaw", at_least=True), dry_mem)
        doc = _summary(oc)
        preview = {k: doc.get(k) for k in ("beforeCount", "afterCount", "pruned", "capped", "mode")}
        notes.append(f"openclaw 2026.7.1 on the {mb:.0f} MB store: {mb / oc.wall().median:.0f} MB/s, "
                     f"{oc.rss().high / MIB:.0f} MiB peak; its preview: {json.dumps(preview)}.")
        oc_row = Row(BENCH, subject, oc, verdict="reference")
    if removed != store.dead:
        verdict = f"MISSED ({found}); {verdict}"
    return [Row(BENCH, f"ctoops prune, dry run: {label}", dry,
                f">= {SPEED_GOAL:g}x faster than openclaw; peak <= {MEMORY_GOAL:g}x file",
                verdict, tuple(notes)),
            Row(BENCH, f"ctoops prune, applied to a copy: {label}", apply,
                f"peak <= {MEMORY_GOAL:g}x file",
                judge(apply.rss().high / store.size_bytes, MEMORY_GOAL, "file size")),
            oc_row]


def _linearity(per_mb: list[tuple[float, float, float]]) -> Row:
    subject = "ctoops prune, dry run: time against size"
    goal = "linear in size"
    speeds = ", ".join(f"{size:.0f} MB: {rate:.0f} MB/s" for size, rate, _ in per_mb)
    if len(per_mb) < 2:
        return Row(BENCH, subject, None, goal, f"not judged: one size only ({speeds})")
    costs = [c for _, _, c in per_mb]
    spread = max(costs) / min(costs) if min(costs) > 0 else float("inf")
    return Row(BENCH, subject, None, goal,
               judge(spread, LINEAR_GOAL, "spread of the per-MB time above start-up") + f"; {speeds}")


def main(argv: list[str] | None = None) -> int:
    from benchmarks.report import standalone

    return standalone(rows, __doc__, argv)


if __name__ == "__main__":
    sys.exit(main())
