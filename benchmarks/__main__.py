"""`python -m benchmarks`: run every benchmark, print one Markdown table and write
it, with the machine it ran on, to docs/benchmarks.md.

    python -m benchmarks [--full] [--only NAME ...] [--rounds N] [--openclaw-dir DIR]
                         [--out FILE] [--json] [--check] [--quick]

The default sizes fit a fresh 2-core machine in a few minutes; `--full` adds the
big ones. A benchmark is a module `benchmarks/<name>.py` with
`rows(opts: benchmarks.common.Options) -> list[benchmarks.common.Row]` (measured
through benchmarks.common) and a `main()` for running it on its own; adding one
is one line in BENCHMARKS. A module that is not there yet, or has no `rows()`,
is reported as skipped; one that fails is reported as an error (exit 1) and the
others still run.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path

from benchmarks.common import REPO, Row, skipped
from benchmarks.report import (
    add_common_args,
    as_json,
    command_line,
    document,
    markdown_table,
    missed,
    notes,
    options,
)
from benchmarks.stores import Stores

# module name -> (what it measures, its goals): the table's order. A module not
# written yet is a row saying so, with its goal.
BENCHMARKS: dict[str, tuple[str, str]] = {
    "check_resources": ("every-minute path and spawn gate vs the Python and Typer floors",
                        "<= 1.5x / 1.2x Typer floor; <= 40 MiB"),
    "prune": ("dead-cron-run prune vs `openclaw sessions cleanup --dry-run` (2026.7.1)",
              ">= 2x faster; peak <= 3x file; linear"),
    "check_sessions": ("`check sessions` on file-era stores and 100k-row SQLite databases", ""),
    "contention": ("8 racing runs on one workspace lock vs one run", "all within 2x one run"),
    "retry_storm": ("`retry-storm` on a big gateway log folder: bounded reads",
                    "<= 8 MiB read per run"),
    "zombie": ("`zombie-report` verdict vs `openclaw gateway probe --json`",
               ">= 20x faster; >= 10x less memory"),
}


def run_one(name: str, opts: object) -> list[Row]:
    module_name = f"benchmarks.{name}"
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise
        return [skipped(name, *BENCHMARKS[name][:1], f"benchmarks/{name}.py is not there yet",
                        BENCHMARKS[name][1])]
    rows_fn = getattr(module, "rows", None)
    if rows_fn is None:
        return [skipped(name, *BENCHMARKS[name][:1], f"benchmarks/{name}.py has no rows(opts)",
                        BENCHMARKS[name][1])]
    return rows_fn(opts)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[0])
    add_common_args(parser)
    parser.add_argument("--only", action="append", choices=list(BENCHMARKS), metavar="NAME",
                        help=f"run only this benchmark (repeatable): {', '.join(BENCHMARKS)}")
    parser.add_argument("--out", default=str(REPO / "docs" / "benchmarks.md"),
                        help="where the Markdown goes (default: docs/benchmarks.md; '-': nowhere)")
    args = parser.parse_args(argv)
    load_before = os.getloadavg()
    names = args.only or list(BENCHMARKS)
    rows: list[Row] = []
    failed = False
    with tempfile.TemporaryDirectory(prefix="ctoops-bench-") as tmp:
        stores = Stores(Path(tmp) / "stores")  # the size benchmarks share their inputs
        for name in names:
            started = time.monotonic()
            print(f"benchmarks: {name} ...", file=sys.stderr, flush=True)
            workdir = Path(tmp) / name
            workdir.mkdir()
            try:
                got = run_one(name, options(args, workdir, stores))
            except Exception as exc:  # one broken benchmark must not hide the others
                traceback.print_exc()
                got = [Row(name, BENCHMARKS[name][0], goal=BENCHMARKS[name][1],
                           verdict=f"error: {type(exc).__name__}: {exc}"[:300])]
                failed = True
            rows += got
            print(f"benchmarks: {name} done in {time.monotonic() - started:.0f} s",
                  file=sys.stderr, flush=True)
    if args.json:
        print(json.dumps(as_json(rows), indent=2))
    else:
        print(markdown_table(rows) + "\n" + notes(rows), end="")
    if args.out != "-":
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(document(rows, command_line(argv), load_before, args.openclaw_dir),
                       encoding="utf-8")
        print(f"benchmarks: wrote {out}", file=sys.stderr)
    if failed:
        return 1
    return 1 if args.check and missed(rows) else 0


if __name__ == "__main__":
    sys.exit(main())
