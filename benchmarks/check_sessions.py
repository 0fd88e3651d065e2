"""Benchmark `ctoops check sessions` on big gateway state roots: wall time and peak RSS.

    python -m benchmarks.check_sessions [--size-mb 100] [--rows 100000] [--repeat 3]

Scenarios, each a fresh child process (`python -m ctoops --json check sessions`)
whose peak RSS comes from os.wait4's ru_maxrss:
- empty:  no gateway state at all (the interpreter + ctoops floor);
- file:   a file-era sessions.json of --size-mb MB (realistic keys, ~20 KB entries);
- sqlite: an agent database with --rows session_nodes rows (the real DDL).
Both big scenarios have a board with in-progress tasks on dead sessions, so the
P2 path runs too (its board moves happen on the first repeat only).
The claim checked: peak memory stays bounded, well below the store's size.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.sessions import openclaw_gen as gen  # noqa: E402  (after the path insert)


def measure(argv: list[str], env: dict[str, str]) -> tuple[float, int, int]:
    """(wall seconds, peak RSS bytes, exit code) of one child process."""
    started = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    return wall, usage.ru_maxrss * 1024, proc.returncode  # Linux: ru_maxrss is in KiB


def workspace(base: Path, name: str, state_dir: Path, dead_keys: list[str]) -> Path:
    root = base / f"ws-{name}"
    (root / "config").mkdir(parents=True)
    (root / "config" / "ctoops.yaml").write_text(
        f"gateway:\n  state_dir: {state_dir}\n  process_name: ctoops-bench-none\n"
        "notify:\n  order: [mc_output]\n", encoding="utf-8")
    (root / "memory").mkdir()
    tasks = [{"id": f"B{i}", "status": "in_progress", "session_key": k}
             for i, k in enumerate(dead_keys)]
    (root / "memory" / "mc-board.json").write_text(json.dumps({"version": 1, "tasks": tasks}))
    return root


def build(base: Path, size_mb: int, rows: int, now_ms: int) -> dict[str, tuple[Path, int]]:
    """name -> (workspace, store bytes)."""
    out: dict[str, tuple[Path, int]] = {}
    empty = base / "empty-state"
    out["empty"] = (workspace(base, "empty", empty, []), 0)
    file_dir = base / "file-state"
    dead = [gen.key_subagent(f"bench-dead-{i}") for i in range(5)]

    def items():
        yield from gen.realistic_items(size_mb << 20, now_ms)
        for k in dead:
            yield k, gen.entry(None, "failed", now_ms - 90_000, pad_bytes=20_000)

    store = gen.write_sessions_json(file_dir, items())
    out["file"] = (workspace(base, "file", file_dir, [*dead, gen.key_subagent("missing")]),
                   store.stat().st_size)
    sqlite_dir = base / "sqlite-state"

    def db_rows():
        for i in range(rows):
            status = "running" if i < 50 else ("failed" if i % 20 == 0 else "done")
            updated = now_ms - (1_000 if status == "running" else 60_000 + i)
            yield gen.session_row(gen.key_subagent(f"s{i}"), status, updated)

    db = gen.make_agent_db(sqlite_dir, db_rows())
    gen.make_state_db(sqlite_dir, heartbeat_jobs=[gen.heartbeat_job("main", now_ms - 60_000)])
    sqlite_dead = [gen.key_subagent(f"s{i}") for i in range(60, 200, 20)]
    out["sqlite"] = (workspace(base, "sqlite", sqlite_dir, sqlite_dead), db.stat().st_size)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=100)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--dir", help="build here and keep it (default: a temp dir, removed)")
    args = parser.parse_args()
    now_ms = int(time.time() * 1000)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("INVOCATION_ID", None)
    with tempfile.TemporaryDirectory(prefix="ctoops-bench-") as tmp:
        base = Path(args.dir) if args.dir else Path(tmp)
        base.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        scenarios = build(base, args.size_mb, args.rows, now_ms)
        print(f"built in {time.perf_counter() - t0:.1f} s under {base}", file=sys.stderr)
        results = []
        for name, (root, store_bytes) in scenarios.items():
            argv = [sys.executable, "-m", "ctoops", "--root", str(root), "--json", "check",
                    "sessions"]
            runs = [measure(argv, env) for _ in range(args.repeat)]
            walls = [r[0] for r in runs]
            result = {"scenario": name, "store_bytes": store_bytes,
                      "wall_s_median": round(statistics.median(walls), 3),
                      "wall_s_min": round(min(walls), 3),
                      "peak_rss_bytes": max(r[1] for r in runs),
                      "exit_codes": [r[2] for r in runs]}
            results.append(result)
            print(json.dumps(result))
    print(f"{'scenario':<8} {'store MB':>9} {'wall s (median)':>16} {'peak RSS MB':>12}",
          file=sys.stderr)
    for r in results:
        print(f"{r['scenario']:<8} {r['store_bytes'] / 1e6:>9.1f} {r['wall_s_median']:>16.3f} "
              f"{r['peak_rss_bytes'] / 1e6:>12.1f}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
