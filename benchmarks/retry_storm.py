"""Benchmark: `ctoops retry-storm` (P3, R20) over a big gateway log folder is never
a big read: each run reads at most `retry_storm.max_bytes_per_run` (8 MiB).

    python -m benchmarks.retry_storm [--full] [--rounds 5]

Builds a log folder the way a busy gateway leaves it (today's file, its size
rotations .1-.5, earlier days): 256 MB (`--full`: 1 GB; `--quick`: 32 MB; `--sizes
N`: N MB), by
writing a few MB of real-format lines (tests/storm/storm_loggen.py) and repeating
them. Then three phases, one after the other (they share the folder), each run a
fresh child process:
- first run: a new workspace, no cursor yet;
- steady state: the run after a minute's worth (256 KiB) of new lines;
- backlog: the run after ctoops missed a long stretch (64 MiB of new lines, far
  more than the per-run cap).
Goal: every run reads at most the cap, whatever the folder's size.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import MIB, Case, Options, Row, compile_checkout, interleaved, repo_env
from tests.storm.storm_loggen import gateway_line, log_name

BENCH = "retry storm"
T0 = 1_796_040_000.0
DAY = "2026-11-30"
MB = 1 << 20
CAP = 8 * MIB  # retry_storm.max_bytes_per_run, the packaged default
# A cut read starts one byte early to see whether it falls on a line start
# (probes/tailfile.py, _fit): the documented bound is the cap plus that byte.
BOUND = CAP + 1


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


def _workspace(base: Path, name: str, logs: Path) -> Path:
    root = base / f"ws-{name}"
    (root / "config").mkdir(parents=True)
    (root / "config" / "ctoops.yaml").write_text(
        f"gateway:\n  log_dir: {logs}\n  state_dir: {base / 'no-state'}\n"
        "notify:\n  order: [mc_output]\nretry_storm:\n  sources: [gateway_log]\n")
    return root


def _append(path: Path, data: bytes) -> None:
    with open(path, "ab") as fh:
        fh.write(data)


def rows(opts: Options) -> list[Row]:
    compile_checkout()
    size_mb = opts.sizes((256,), (1024,), (32,))[-1]
    logs = opts.workdir / "logs"
    logs.mkdir(parents=True)
    total = build(logs, size_mb)
    today = logs / log_name(DAY)
    minute, backlog = chunk(T0, 256 * 1024), chunk(T0 + 120, 4 * MB) * 16
    first_root = _workspace(opts.workdir, "first", logs)
    argv = [sys.executable, "-m", "ctoops", "--json", "retry-storm"]
    env = repo_env({"CTOOPS_FAKE_NOW": repr(T0 + 180)})

    def fresh() -> None:
        shutil.rmtree(first_root / "memory", ignore_errors=True)
        shutil.rmtree(first_root / "logs", ignore_errors=True)

    cases = [Case("first", [*argv[:3], "--root", str(first_root), *argv[3:]], env, opts.workdir,
                  ok_codes=(0, 1, 2), setup=fresh)]
    for name, piece in (("steady", minute), ("backlog", backlog)):
        root = _workspace(opts.workdir, name, logs)
        cases.append(Case(name, [*argv[:3], "--root", str(root), *argv[3:]], env, opts.workdir,
                          ok_codes=(0, 1, 2), setup=lambda p=piece: _append(today, p)))
    # One phase after the other, not interleaved: the phases share the folder, and a
    # backlog appended for one would be the next steady-state run's backlog too.
    by = {c.name: interleaved([c], opts.n(5, 10), warmup=1)[0] for c in cases}
    label = f"{total / 1e6:.0f} MB log folder"
    subjects = {"first": f"`ctoops --json retry-storm`, first run (no cursor): {label}",
                "steady": "`ctoops --json retry-storm`, steady state (256 KiB new)",
                "backlog": "`ctoops --json retry-storm`, backlog (64 MiB new)"}
    out = []
    for name, subject in subjects.items():
        r = by[name]
        reads = [_gateway_log(s.stdout) for s in r.samples]
        most = max(b for b, _, _ in reads)
        verdict = (f"{'met' if most <= BOUND else 'MISSED'} (at most {most:,} bytes read "
                   f"{'<=' if most <= BOUND else '>'} {CAP:,} + 1)")
        b, lines, skipped_bytes = reads[-1]
        out.append(Row(BENCH, subject, r, f"reads <= {CAP // MIB} MiB (+1 byte) per run", verdict,
                       (f"retry-storm {name}: last run read {b / MIB:.2f} MiB ({lines} lines), "
                        f"left {skipped_bytes / MIB:.1f} MiB to later runs or skipped.",)))
    return out


def _gateway_log(stdout: str) -> tuple[int, int, int]:
    doc = json.loads(stdout)
    log = next(s for s in doc["sources"] if s["name"] == "gateway_log")
    return int(log["bytes_read"]), int(log["lines"]), int(log["skipped_bytes"])


def main(argv: list[str] | None = None) -> int:
    from benchmarks.report import standalone

    return standalone(rows, __doc__, argv)


if __name__ == "__main__":
    sys.exit(main())
