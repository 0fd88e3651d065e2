"""A Typer-free start for the every-minute checks (`python -m ctoops`).

Typer 0.29 builds its option parsing on pydantic: about 75 ms and 10 MB of imports
before any work, more than a healthy `zombie-report` costs by itself, on a path
that timers run every minute. For the exact command lines a timer uses (the global
options, then one FAST command with no arguments of its own) this parses argv by
hand and runs the same command body the Typer app runs, rendered the same way;
an error goes through `cli._report_error`, and cli.py's post-run hook (the
notification outbox flush, `cli._flush_outbox`, where this build has one) runs
when something is queued: Typer is imported only in those cases, so exit codes,
messages and side effects are cli.py's. Anything else (`--help`, an unknown
option, any other command) returns None and the Typer app handles it as before.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

# command -> (module, function, kind as cli.py names it)
FAST = {"zombie-report": ("ctoops.commands.zombie_report", "run", "check")}
_FLAGS = {"--json": "json", "--dry-run": "dry_run", "--verbose": "verbose"}
_VALUES = {"--root": "root", "--config": "config"}


def parse(argv: list[str]) -> tuple[dict[str, Any], str] | None:
    """(global options, command) for `[global options] COMMAND`, else None."""
    opts: dict[str, Any] = {"root": None, "config": None, "json": False, "dry_run": False,
                            "verbose": False}
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg in FAST:
            return (opts, arg) if i == len(argv) - 1 else None
        if arg in _FLAGS:
            opts[_FLAGS[arg]] = True
            i += 1
            continue
        name, eq, value = arg.partition("=")
        if name not in _VALUES:
            return None
        if not eq:
            if i + 1 >= len(argv):
                return None
            value = argv[i + 1]
            i += 1
        opts[_VALUES[name]] = value
        i += 1
    return None


def run_fast(argv: list[str]) -> int | None:
    """The exit code of a FAST command line, or None to let Typer handle argv."""
    parsed = parse(argv)
    if parsed is None:
        return None
    opts, name = parsed
    from ctoops.context import Context

    ctx = Context(root_option=opts["root"] or os.environ.get("CTOOPS_ROOT") or None,
                  config_option=opts["config"] or os.environ.get("CTOOPS_CONFIG") or None,
                  json=opts["json"], dry_run=opts["dry_run"], verbose=opts["verbose"])
    ctx.command = name
    module, func, kind = FAST[name]
    try:
        from ctoops.report import render

        _ = ctx.config  # a bad config fails here, as in cli._run
        report = getattr(importlib.import_module(module), func)(ctx)
        render(report, ctx.json)
        for note in report.notes:
            ctx.warn(note)
        code = report.exit_code
    except Exception as exc:
        from ctoops.cli import _report_error

        code = _report_error(exc, name, kind, ctx.json)
    if not ctx.dry_run:
        _after_run(ctx)
    return code


def _after_run(ctx: Any) -> None:
    """cli._run's post-run hook, when there is work for it: with an empty outbox
    this is one listdir and no import, as in cli.py."""
    from ctoops.errors import CtoopsError

    try:
        names = os.listdir(ctx.workspace.outbox_dir)
    except (OSError, CtoopsError):  # no outbox (nothing ever queued): nothing to do
        return
    if not any(n.endswith(".json") and not n.startswith(".") for n in names):
        return
    from ctoops import cli

    hook = getattr(cli, "_flush_outbox", None)  # absent in builds without the outbox
    if hook is not None:
        hook(ctx)
