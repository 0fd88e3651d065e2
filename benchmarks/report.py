"""How benchmark rows are shown: one Markdown table (the same for the runner and
for a module run on its own), the notes under it, the machine it ran on, and
`docs/benchmarks.md`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.common import REPO, Options, Row, fmt_rss, fmt_time
from benchmarks.stores import Stores

COLUMNS = ("benchmark", "subject", "rounds", "wall median (min–max)", "CPU median (min–max)",
           "peak RSS MiB median (min–max)", "goal", "result")


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown_table(rows: Sequence[Row]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for row in rows:
        r = row.result
        if r is not None and r.samples:
            measured = [str(len(r.samples)), fmt_time(r.wall()), fmt_time(r.cpu()), fmt_rss(r.rss())]
        else:
            measured = ["–", "–", "–", "–"]
        cells = [row.benchmark, row.subject, *measured, row.goal or "–", row.verdict or "–"]
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return "\n".join(lines) + "\n"


def notes(rows: Sequence[Row]) -> str:
    out = [f"- {note}" for row in rows for note in row.notes]
    return "\n".join(out) + ("\n" if out else "")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _mem_total() -> str:
    try:
        for line in Path("/proc/meminfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 2**20:.1f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    return "unknown"


def _commit() -> str:
    try:
        out = subprocess.run(["git", "-C", str(REPO), "describe", "--always", "--dirty"],
                             capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return out.stdout.strip() or "unknown"


def machine(command: str, load_before: tuple[float, ...], openclaw_dir: str = "") -> list[str]:
    """The lines that say where and how the figures were made."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    load = os.getloadavg()
    return [
        f"- date: {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- command: `{command}`",
        f"- checkout: {_commit()}",
        f"- CPU: {_cpu_model()}, {os.cpu_count()} cores ({usable} usable); "
        f"memory {_mem_total()}",
        f"- load average (1 min) before / after: {load_before[0]:.2f} / {load[0]:.2f}",
        f"- OS: {platform.system()} {platform.release()}",
        f"- Python: {platform.python_implementation()} {platform.python_version()} "
        f"({sys.executable})",
        f"- OpenClaw for the comparisons: {openclaw_dir or 'none (CTOOPS_OPENCLAW_DIR not set)'}",
    ]


def as_json(rows: Sequence[Row]) -> list[dict[str, Any]]:
    out = []
    for row in rows:
        doc: dict[str, Any] = {"benchmark": row.benchmark, "subject": row.subject,
                               "goal": row.goal, "result": row.verdict, "notes": list(row.notes)}
        if row.result is not None and row.result.samples:
            r = row.result
            doc["rounds"] = len(r.samples)
            for key, s in (("wall_s", r.wall()), ("cpu_s", r.cpu()), ("peak_rss_bytes", r.rss())):
                doc[key] = {"median": s.median, "min": s.low, "max": s.high}
        out.append(doc)
    return out


def missed(rows: Sequence[Row]) -> list[Row]:
    return [r for r in rows if r.verdict.startswith(("MISSED", "error"))]


def command_line(argv: Sequence[str]) -> str:
    return shlex.join(["python", "-m", "benchmarks", *argv])


def add_common_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--full", action="store_true", help="the big sizes and more rounds")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: smallest sizes, 2 rounds (the runner's own test)")
    parser.add_argument("--rounds", type=int, help="rounds per benchmark (default: its own)")
    parser.add_argument("--sizes", type=_sizes, default=(), metavar="MB[,MB...]",
                        help="sizes for prune, check_sessions and retry_storm (default: theirs)")
    parser.add_argument("--openclaw-dir", default=os.environ.get("CTOOPS_OPENCLAW_DIR", ""),
                        help="node24/, gw71/, gw96/ (default: $CTOOPS_OPENCLAW_DIR)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of Markdown")
    parser.add_argument("--check", action="store_true", help="exit 1 when a goal is missed")


def _sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected MB numbers separated by commas: {text!r}") from None
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"expected sizes of at least 1 MB: {text!r}")
    return sizes


def options(args: argparse.Namespace, workdir: Path, stores: Stores) -> Options:
    return Options(workdir=workdir, full=args.full, quick=args.quick, rounds=args.rounds,
                   openclaw_dir=Path(args.openclaw_dir) if args.openclaw_dir else None,
                   stores=stores, sizes_mb=args.sizes)


def standalone(rows_fn: Callable[[Options], list[Row]], doc: str | None,
               argv: list[str] | None = None) -> int:
    """`python -m benchmarks.<module>`: the same rows, printed, nothing written."""
    parser = argparse.ArgumentParser(description=(doc or "").split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_args(parser)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="ctoops-bench-") as tmp:
        work = Path(tmp) / "work"
        work.mkdir()
        rows = rows_fn(options(args, work, Stores(Path(tmp) / "stores")))
    if args.json:
        print(json.dumps(as_json(rows), indent=2))
    else:
        print(markdown_table(rows) + "\n" + notes(rows), end="")
    return 1 if args.check and missed(rows) else 0


DOC_HEAD = """\
# Benchmarks

Generated by `python -m benchmarks` (benchmarks/__main__.py); do not edit by hand,
run it again. `--full` adds the big sizes, `--only NAME` runs one benchmark,
`--openclaw-dir DIR` (or `CTOOPS_OPENCLAW_DIR`) enables the OpenClaw comparisons.
Each benchmark module also runs on its own: `python -m benchmarks.prune --help`.

How every figure is made (benchmarks/common.py): each measured command is a fresh
child process, forked by a tiny `python -S` launcher (so no big parent's RSS is
carried into the child's at exec); wall time is taken around fork and reap, CPU
time (user + system) and peak RSS come from the child's own rusage (`os.wait4`), so
the interpreter's start-up is always included and nothing else on the machine is
counted. Cases that
are compared run interleaved, round by round, after warm-up rounds; the table gives
the median with the min–max over the rounds. The checkout's bytecode is compiled
first, as an installed package's is. On a shared machine wall time moves with the
load; CPU time and peak RSS move far less.
"""


def document(rows: Sequence[Row], command: str, load_before: tuple[float, ...],
             openclaw_dir: str = "") -> str:
    parts = [DOC_HEAD, "## Machine\n", "\n".join(machine(command, load_before, openclaw_dir)) + "\n",
             "## Results\n", markdown_table(rows)]
    if any(r.notes for r in rows):
        parts += ["## Notes\n", notes(rows)]
    return "\n".join(parts)
