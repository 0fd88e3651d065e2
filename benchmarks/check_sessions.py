"""Benchmark: `ctoops --json check sessions` (R2, R3, R17-R19) on big gateway state
roots, against the same command with no gateway state at all.

    python -m benchmarks.check_sessions [--full] [--rounds 5]

Scenarios, interleaved round by round, each run a fresh child process:
- no state: an empty gateway state folder (the interpreter + ctoops floor);
- file-era stores: the prune benchmark's generated `sessions.json` files (10 and
  100 MB; `--full` adds 200 MB; `--sizes` sets others), read in one streaming pass;
- SQLite era: an agent database with 100k session rows (the real DDL) and the
  state database with a heartbeat job.
Each big scenario has an MC board with in-progress tasks on dead or missing
sessions, so the P2 path runs too (its board moves happen in the warm-up round).
No goal is set for this command in issue 12: the figures show that time grows
with the store and peak memory stays bounded, far below the store's size.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import MIB, Case, Options, Result, Row, compile_checkout, interleaved, repo_env

BENCH = "check sessions"
SQLITE_ROWS = 100_000


def workspace(base: Path, name: str, state_dir: Path, dead_keys: list[str]) -> Path:
    root = base / f"ws-{name}"
    (root / "config").mkdir(parents=True)
    (root / "config" / "ctoops.yaml").write_text(
        f"gateway:\n  state_dir: {state_dir}\n  process_name: ctoops-bench-none\n"
        "notify:\n  order: [mc_output]\n", encoding="utf-8")
    (root / "memory").mkdir()
    tasks = [{"id": f"B{i}", "status": "in_progress", "session_key": k}
             for i, k in enumerate([*dead_keys, "agent:main:subagent:bench-missing"])]
    (root / "memory" / "mc-board.json").write_text(json.dumps({"version": 1, "tasks": tasks}))
    return root


def scenarios(opts: Options) -> list[tuple[str, str, Path, int]]:
    """(case name, label, state dir, store bytes); inputs from the shared cache."""
    stores = opts.store_cache()
    empty = opts.workdir / "empty-state"
    empty.mkdir(parents=True)
    out = [("empty", "no gateway state", empty, 0)]
    for size in opts.sizes((10, 100), (10, 100, 200), (10,)):
        fs = stores.file_store(size)
        out.append((f"file-{size}", f"file-era store, {fs.size_bytes / 1e6:.0f} MB "
                                    f"({fs.entries} entries)", fs.state_dir, fs.size_bytes))
    rows = 10_000 if opts.quick else SQLITE_ROWS
    db = stores.sqlite_state(rows)
    out.append(("sqlite", f"SQLite era, {rows // 1000}k session rows "
                          f"({db.size_bytes / 1e6:.0f} MB database)", db.state_dir, db.size_bytes))
    return out


def _dead_keys(opts: Options, name: str) -> list[str]:
    stores = opts.store_cache()
    if name.startswith("file-"):
        return list(stores.file_store(int(name.split("-")[1])).dead_keys)
    if name == "sqlite":
        return list(stores.sqlite_state(10_000 if opts.quick else SQLITE_ROWS).dead_keys)
    return []


def rows(opts: Options) -> list[Row]:
    compile_checkout()
    plan = scenarios(opts)
    py, env = sys.executable, repo_env()
    cases = []
    for name, _, state_dir, _ in plan:
        root = workspace(opts.workdir, name, state_dir, _dead_keys(opts, name))
        cases.append(Case(name, [py, "-m", "ctoops", "--root", str(root), "--json", "check",
                                 "sessions"], env, opts.workdir, ok_codes=(0, 1, 2)))
    results = {r.case.name: r for r in interleaved(cases, opts.n(5, 10), warmup=1)}
    floor = results["empty"]
    out = []
    for name, label, _, size in plan:
        r = results[name]
        subject = f"`ctoops --json check sessions`: {label}"
        if name == "empty":
            out.append(Row(BENCH, subject, r, verdict="reference"))
            continue
        out.append(Row(BENCH, subject, r, "none set (figures only)", _figures(r, floor, size),
                       (f"check sessions, {label}: {_status(r)}",)))
    return out


def _figures(r: Result, floor: Result, size: int) -> str:
    extra_s = r.wall().median - floor.wall().median
    extra_mib = (r.rss().high - floor.rss().high) / MIB
    rate = f"{size / 1e6 / extra_s:.0f} MB/s above start-up; " if extra_s > 0 else ""
    return (f"{rate}peak +{extra_mib:.1f} MiB over no state "
            f"({(r.rss().high - floor.rss().high) / size:.2f}x the store)")


def _status(r: Result) -> str:
    try:
        doc = json.loads(r.samples[-1].stdout)
    except (ValueError, IndexError):
        return "no JSON report"
    return f"exit {doc.get('exit_code')}, {doc.get('summary', '')[:160]}"


def main(argv: list[str] | None = None) -> int:
    from benchmarks.report import standalone

    return standalone(rows, __doc__, argv)


if __name__ == "__main__":
    sys.exit(main())
