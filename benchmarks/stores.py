"""Generated gateway state for the size benchmarks, made once per run and shared:
the prune and `check sessions` benchmarks read the same file-era stores.

- `file_store(size_mb)`: a file-era state root (benchmarks/storegen.py): one
  agent's `sessions.json` of about size_mb MB of realistic entries, jobs with
  100 runs each (dead ones by construction), cron run logs and the subagent
  registry;
- `sqlite_state(rows)`: a SQLite-era state root: an agent database with `rows`
  session rows (the real 2026.9.6 DDL, tests/sessions/openclaw_gen.py) and the
  state database with a heartbeat job.

Each is generated in a child process (`python -m benchmarks.stores ...`), so the
benchmark's parent never holds a store in memory. Measured commands only read
these folders; a benchmark that changes a store works on its own copy.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.common import REPO, repo_env

AVG_RUN_BYTES = 16_600  # a generated run entry with 8-24 KB of blobs, serialised
RUNS_PER_JOB = 100


@dataclass(frozen=True)
class FileStore:
    state_dir: Path
    store: Path  # agents/main/sessions/sessions.json
    size_bytes: int
    entries: int
    dead: int  # dead cron runs, by construction
    now_ms: int
    dead_keys: tuple[str, ...]  # a few of them, for board tasks


@dataclass(frozen=True)
class SqliteState:
    state_dir: Path
    db: Path
    size_bytes: int
    rows: int
    now_ms: int
    dead_keys: tuple[str, ...]  # failed sessions, for board tasks


class Stores:
    """Generate on first use, then hand out the same folders."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self._files: dict[int, FileStore] = {}
        self._sqlite: dict[int, SqliteState] = {}

    def _child(self, *args: str) -> dict[str, Any]:
        out = subprocess.run([sys.executable, "-m", "benchmarks.stores", *args],
                             capture_output=True, text=True, env=repo_env(), cwd=REPO,
                             timeout=900, check=False)
        if out.returncode != 0:
            raise RuntimeError(f"generating {args}: {out.stderr[-2000:]}")
        return json.loads(out.stdout)

    def file_store(self, size_mb: int) -> FileStore:
        if size_mb not in self._files:
            folder = self.base / f"file-{size_mb}mb"
            doc = self._child("file", str(folder), str(size_mb))
            self._files[size_mb] = FileStore(
                Path(doc["state_dir"]), Path(doc["store"]), doc["size_bytes"], doc["entries"],
                doc["dead"], doc["now_ms"], tuple(doc["dead_keys"]))
        return self._files[size_mb]

    def sqlite_state(self, rows: int) -> SqliteState:
        if rows not in self._sqlite:
            folder = self.base / f"sqlite-{rows}"
            doc = self._child("sqlite", str(folder), str(rows))
            self._sqlite[rows] = SqliteState(
                Path(doc["state_dir"]), Path(doc["db"]), doc["size_bytes"], rows, doc["now_ms"],
                tuple(doc["dead_keys"]))
        return self._sqlite[rows]


def _make_file(folder: Path, size_mb: int) -> dict[str, Any]:
    from benchmarks.storegen import generate

    jobs = max(4, round(size_mb * 1e6 / (AVG_RUN_BYTES * RUNS_PER_JOB)))
    gen = generate(folder / "state", agents=("main",), jobs=jobs, runs_per_job=RUNS_PER_JOB,
                   groups=50, now_ms=int(time.time() * 1000))
    store = gen.stores["main"]
    return {"state_dir": str(gen.state_dir), "store": str(store.path),
            "size_bytes": store.path.stat().st_size, "entries": len(store.keys),
            "dead": gen.dead_total, "now_ms": gen.now_ms, "dead_keys": sorted(store.dead)[:5]}


def _make_sqlite(folder: Path, rows: int) -> dict[str, Any]:
    sys.path.insert(0, str(REPO))
    from tests.sessions import openclaw_gen as gen

    now_ms = int(time.time() * 1000)
    state_dir = folder / "state"

    def db_rows():  # a few running, 5% failed, the rest done
        for i in range(rows):
            status = "running" if i < 50 else ("failed" if i % 20 == 0 else "done")
            updated = now_ms - (1_000 if status == "running" else 60_000 + i)
            yield gen.session_row(gen.key_subagent(f"s{i}"), status, updated)

    db = gen.make_agent_db(state_dir, db_rows())
    gen.make_state_db(state_dir, heartbeat_jobs=[gen.heartbeat_job("main", now_ms - 60_000)])
    dead = [gen.key_subagent(f"s{i}") for i in range(60, min(rows, 200), 20)]
    return {"state_dir": str(state_dir), "db": str(db), "size_bytes": db.stat().st_size,
            "now_ms": now_ms, "dead_keys": dead}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="generate one benchmark input; print JSON")
    parser.add_argument("kind", choices=("file", "sqlite"))
    parser.add_argument("folder", type=Path)
    parser.add_argument("size", type=int, help="MB for file, session rows for sqlite")
    args = parser.parse_args(argv)
    make = _make_file if args.kind == "file" else _make_sqlite
    print(json.dumps(make(args.folder, args.size)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
