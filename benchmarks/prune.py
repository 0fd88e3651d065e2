"""Benchmark: the dead-cron-run prune on a generated 100 MB legacy store, beside the
gateway's own `openclaw sessions cleanup --dry-run --store <file>` (2026.7.1, the
last file-era release) on the same file.

    python benchmarks/prune.py [--size-mb 100] [--openclaw-dir /tmp/gwcache] [--json]

Each measured command runs as its own child process of a small parent (the store
is generated in another child, so no child inherits a large address space at
fork); wall time is measured around it and peak RSS is the child's `ru_maxrss`
from wait4() (so the interpreter's own start-up is included: a bare
`import ctoops` baseline is shown too). The openclaw row needs `--openclaw-dir`
(or CTOOPS_OPENCLAW_DIR) laid out like /tmp/gwcache (node24/, gw71/); without it
that row is skipped, saying why.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

AVG_RUN_BYTES = 16_600  # a generated run entry with 8-24 KB of blobs, serialised
RUNS_PER_JOB = 100


def measure(argv: list[str], env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run one child; wall seconds, peak RSS (MiB) and its stdout."""
    started = time.monotonic()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(argv, stdout=out, stderr=err, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.monotonic() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
    return {"wall_s": round(wall, 2), "peak_rss_mib": round(usage.ru_maxrss / 1024, 1),
            "rc": proc.returncode, "stdout": stdout, "stderr": stderr[-2000:]}


def child(state_dir: str, now_ms: float, apply: bool) -> None:
    """The measured ctoops side: step 2 of the safe restart on this state dir."""
    from ctoops.actions.dead_runs import prune_dead_runs
    from ctoops.config import load_config

    started = time.monotonic()
    step = prune_dead_runs(load_config(None), state_dir, now_ms, dry_run=not apply)
    summary = step.as_dict()
    print(json.dumps({"inner_s": round(time.monotonic() - started, 2), "status": step.status,
                      "removed": summary["removed"], "entries_before": summary["entries_before"],
                      "entries_after": summary["entries_after"],
                      "bytes_before": summary["bytes_before"],
                      "bytes_after": summary["bytes_after"]}))


def generate_store(folder: Path, size_mb: float) -> tuple[Path, int, int]:
    from benchmarks.storegen import generate

    jobs = max(4, round(size_mb * 1e6 / (AVG_RUN_BYTES * RUNS_PER_JOB)))
    gen = generate(folder / "state", agents=("main",), jobs=jobs, runs_per_job=RUNS_PER_JOB,
                   groups=50, now_ms=int(time.time() * 1000))
    store = gen.stores["main"]
    return store.path, len(store.keys), gen.now_ms


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--size-mb", type=float, default=100.0)
    ap.add_argument("--openclaw-dir", default=os.environ.get("CTOOPS_OPENCLAW_DIR", ""))
    ap.add_argument("--json", action="store_true", help="print one JSON document")
    ap.add_argument("--child", nargs=2, metavar=("STATE_DIR", "NOW_MS"), help=argparse.SUPPRESS)
    ap.add_argument("--apply", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--generate", metavar="FOLDER", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.generate:
        store, entries, now_ms = generate_store(Path(args.generate), args.size_mb)
        print(json.dumps({"store": str(store), "entries": entries, "now_ms": now_ms}))
        return 0
    if args.child:
        child(args.child[0], float(args.child[1]), args.apply)
        return 0
    work = Path(tempfile.mkdtemp(prefix="ctoops-bench-"))
    try:
        return run(work, args)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run(work: Path, args: argparse.Namespace) -> int:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    made = measure([sys.executable, str(Path(__file__).resolve()), "--generate",
                    str(work / "gen"), "--size-mb", str(args.size_mb)], env)
    if made["rc"] != 0:
        print(made["stderr"], file=sys.stderr)
        return 1
    generated = json.loads(made["stdout"])
    store, entries, now_ms = Path(generated["store"]), generated["entries"], generated["now_ms"]
    size = store.stat().st_size
    rows: dict[str, Any] = {"store": {"bytes": size, "entries": entries,
                                      "generate_s": made["wall_s"]}}
    for name, apply in (("ctoops_dry_run", False), ("ctoops_prune", True)):
        copy = work / name / "state"
        shutil.copytree(store.parent.parent.parent.parent, copy)
        argv = [sys.executable, str(Path(__file__).resolve()), "--child", str(copy), str(now_ms)]
        result = measure(argv + (["--apply"] if apply else []), env)
        result["summary"] = json.loads(result.pop("stdout")) if result["rc"] == 0 else None
        rows[name] = result
    rows["python_import_baseline"] = measure(
        [sys.executable, "-c", "import ctoops.actions.dead_runs"], env)
    rows["python_import_baseline"].pop("stdout")
    rows["openclaw_2026_7_1_cleanup_dry_run"] = _openclaw(work, store, args.openclaw_dir)
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        _table(rows)
    failed = [k for k, v in rows.items() if isinstance(v, dict) and v.get("rc") not in (None, 0)]
    return 1 if failed else 0


def _openclaw(work: Path, store: Path, openclaw_dir: str) -> dict[str, Any]:
    from tests.integration.openclaw_gateway import OpenClawInstall

    install = OpenClawInstall(Path(openclaw_dir)) if openclaw_dir else None
    if install is None or not install.openclaw("gw71").is_file():
        return {"skipped": "no --openclaw-dir / CTOOPS_OPENCLAW_DIR with gw71/ (openclaw@2026.7.1)"}
    folder = work / "openclaw-copy"
    folder.mkdir()
    target = folder / "sessions.json"
    shutil.copyfile(store, target)
    result = measure([str(install.node), str(install.openclaw("gw71")), "sessions", "cleanup",
                      "--dry-run", "--json", "--store", str(target)], install.env(work / "home"))
    try:
        doc = json.loads(result.pop("stdout"))
        result["summary"] = {k: doc.get(k) for k in ("beforeCount", "afterCount", "pruned",
                                                     "capped", "wouldMutate", "mode")}
    except ValueError:
        result["summary"] = None
    return result


def _table(rows: dict[str, Any]) -> None:
    store = rows["store"]
    print(f"store: {store['bytes'] / 1e6:.1f} MB, {store['entries']} entries "
          f"(generated in {store['generate_s']} s)")
    print(f"{'command':<36} {'wall s':>8} {'peak RSS MiB':>13}  result")
    for name, row in rows.items():
        if name == "store":
            continue
        if "skipped" in row:
            print(f"{name:<36} {'-':>8} {'-':>13}  skipped: {row['skipped']}")
            continue
        summary = row.get("summary") or {}
        result = json.dumps(summary) if summary else f"rc={row['rc']} {row['stderr'][-200:]}"
        print(f"{name:<36} {row['wall_s']:>8} {row['peak_rss_mib']:>13}  {result}")


if __name__ == "__main__":
    sys.exit(main())
