"""Benchmark: `ctoops retry-storm` over a 1 GB gateway log folder is never a 1 GB read.

Builds a log folder the way a busy gateway leaves it (today's file, its size
rotations .1-.5, earlier days), about 1 GB in all, by writing a few MB of real-
format lines and repeating them. Then runs the real CLI (a child process, as the
timer does) and reports, per run, the bytes the gateway-log source read and the
wall time:

- first run: no cursor yet;
- steady state: after a minute's worth of new lines;
- backlog: after ctoops missed a long stretch (far more than the per-run cap).

    python benchmarks/retry_storm.py [--size-mb 1024] [--keep DIR] [--json]
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

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.storm.storm_loggen import gateway_line, log_name  # noqa: E402

T0 = 1_796_040_000.0
DAY = "2026-11-30"
MB = 1 << 20


def chunk(start: float, size: int) -> bytes:
    """About `size` bytes of gateway lines: mostly INFO, some WARN, 1% ERROR."""
    lines: list[bytes] = []
    total = 0
    i = 0
    while total < size:
        ts = start + i * 0.01
        if i % 100 == 0:
            line = gateway_line(ts, "ERROR", f"provider request req_{i:08x} failed: HTTP 502 "
                                f"after {i % 900} ms", "agent")
        elif i % 17 == 0:
            line = gateway_line(ts, "WARN", f"slow turn {i} took {i % 5000} ms", "agent")
        else:
            line = gateway_line(ts, "INFO", f"session agent:main:cron:{i % 97} tick {i}",
                                "gateway")
        lines.append(line)
        total += len(line)
        i += 1
    return b"".join(lines)


def fill(path: Path, piece: bytes, size: int) -> None:
    with open(path, "wb") as fh:
        written = 0
        while written < size:
            fh.write(piece)
            written += len(piece)


def build(folder: Path, size_mb: int) -> int:
    """Today's live file, five size rotations and earlier days: ~size_mb in all."""
    piece = chunk(T0 - 3600, 4 * MB)
    names = [log_name(DAY, rotation=r) for r in (5, 4, 3, 2, 1)]
    names += [log_name(f"2026-11-{d:02d}") for d in (29, 28, 27)]
    per_file = size_mb * MB // (len(names) + 1)
    for name in names:
        fill(folder / name, piece, per_file)
    fill(folder / log_name(DAY), piece, per_file)
    return sum(p.stat().st_size for p in folder.iterdir())


def run(root: Path, at: float) -> dict[str, float]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CTOOPS_")}
    env.update(CTOOPS_FAKE_NOW=repr(at), PYTHONPATH=str(REPO))
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "ctoops", "--root", str(root), "--json",
                           "retry-storm"], capture_output=True, text=True, env=env, timeout=300,
                          check=False)
    wall = time.monotonic() - start
    if not proc.stdout:
        raise SystemExit(f"retry-storm printed nothing (rc {proc.returncode}): {proc.stderr}")
    out = json.loads(proc.stdout)
    log = next(s for s in out["sources"] if s["name"] == "gateway_log")
    return {"exit_code": proc.returncode, "wall_s": round(wall, 3),
            "command_ms": out["elapsed_ms"],
            "bytes_read": log["bytes_read"], "lines": log["lines"],
            "skipped_bytes": log["skipped_bytes"], "new_events": out["new_events"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--keep", type=Path, help="build here and keep it (default: a temp dir)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    base = args.keep or Path(tempfile.mkdtemp(prefix="ctoops-bench-storm-"))
    try:
        logs = base / "logs"
        root = base / "ws"
        logs.mkdir(parents=True, exist_ok=True)
        (root / "config").mkdir(parents=True, exist_ok=True)
        (root / "config" / "ctoops.yaml").write_text(
            f"gateway:\n  log_dir: {logs}\n  state_dir: {base / 'no-state'}\n"
            "notify:\n  order: [mc_output]\nretry_storm:\n  sources: [gateway_log]\n")
        started = time.monotonic()
        total = build(logs, args.size_mb)
        build_s = time.monotonic() - started
        results = {"log_folder_bytes": total, "build_s": round(build_s, 1)}
        results["first_run"] = run(root, T0)
        with open(logs / log_name(DAY), "ab") as fh:  # a minute of a busy gateway
            fh.write(chunk(T0, 256 * 1024))
        results["steady_state_run"] = run(root, T0 + 60)
        results["idle_run"] = run(root, T0 + 120)
        with open(logs / log_name(DAY), "ab") as fh:  # ctoops was down for a long while
            piece = chunk(T0 + 120, 4 * MB)
            for _ in range(16):
                fh.write(piece)
        results["backlog_run"] = run(root, T0 + 180)
        if args.json:
            print(json.dumps(results, indent=2))
            return
        print(f"log folder: {total / MB:.0f} MiB in {len(list(logs.iterdir()))} files "
              f"(built in {build_s:.1f} s); per-run cap 8 MiB")
        print(f"{'run':<18}{'bytes read':>14}{'lines':>9}{'skipped':>14}{'command ms':>12}"
              f"{'process s':>11}{'exit':>6}")
        for name in ("first_run", "steady_state_run", "idle_run", "backlog_run"):
            r = results[name]
            print(f"{name:<18}{r['bytes_read']:>14,}{r['lines']:>9,}{r['skipped_bytes']:>14,}"
                  f"{r['command_ms']:>12.1f}{r['wall_s']:>11.2f}{r['exit_code']:>6}")
    finally:
        if args.keep is None:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
