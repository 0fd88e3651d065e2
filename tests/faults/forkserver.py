"""A fork server for the SIGKILL loops: one Python process that has imported
ctoops once, then forks a worker per request and kills it at the asked moment.

Why: a fresh `python -m ctoops` costs ~150 ms of start-up and imports, so a kill
"at a random point" would mostly land in the interpreter's start-up, and a few
hundred of them would take minutes. A forked worker starts in about a
millisecond with every module loaded, so the kills spread over the work itself.
The server has no threads, so forking it is safe; each worker runs the real code
path (the Typer app for a CLI task) exactly as a command would.

Protocol (one JSON object per line): the test writes
`{"task", "args", "env", "out", "err", "delay"}` (err: stderr's file, default
out); the server forks, sleeps `delay` (None: no kill), sends SIGKILL to the
worker if it is still running, reaps it, and answers `{"pid", "killed", "exit",
"elapsed_s"}`. The server itself sends the signal before reaping, so a pid can
never have been reused by the time it is killed.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import filelock  # noqa: F401
import requests  # noqa: F401
import yaml  # noqa: F401

# Everything a worker may need, loaded once before any fork.
import ctoops.actions.dead_runs
import ctoops.actions.delivery
import ctoops.actions.discord
import ctoops.actions.discord_payload
import ctoops.actions.notify
import ctoops.actions.prune
import ctoops.cli
import ctoops.commands.notify_cmd
import ctoops.commands.safe_restart
import ctoops.commands.status
import ctoops.policy.alerting
import ctoops.policy.channel_health
import ctoops.state


def task_cli(argv: list[str]) -> int:
    """The real command line, in process: `ctoops <argv>`."""
    sys.argv = ["ctoops", *argv]
    try:
        ctoops.cli.main()
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1
    return 0


def task_notify(root: str, title: str, body: str) -> int:
    """One event notice through `dispatch` (outbox write, claim, send, settle)."""
    from ctoops.actions.notify import Notice, dispatch
    from ctoops.context import Context

    ctx = Context(root_option=root)
    ctx.command = "fault-notify"
    dispatch(ctx, [Notice("faults", "drill", "low", title, body)])
    return 0


def task_flush(root: str, force: bool) -> int:
    """One pass over the outbox, as every run's hook (or `notify flush`) does."""
    from ctoops.actions.notify import flush
    from ctoops.context import Context

    ctx = Context(root_option=root)
    ctx.command = "fault-flush"
    flush(ctx, force=force)
    return 0


def task_prune(root: str, state_dir: str, now_ms: float) -> int:
    """Step 2 of the safe restart on its own: the dead-cron-run prune."""
    from ctoops.actions.dead_runs import prune_dead_runs
    from ctoops.config import load_config

    cfg = load_config(Path(root) / "config" / "ctoops.yaml")
    step = prune_dead_runs(cfg, state_dir, now_ms, dry_run=False)
    return 0 if step.status in ("done", "skipped") else 1


TASKS = {"cli": task_cli, "notify": task_notify, "flush": task_flush, "prune": task_prune}


def _worker(request: dict[str, Any]) -> None:
    """In the forked child: never returns."""
    code = 98
    try:
        for target, path in ((1, request["out"]), (2, request.get("err") or request["out"])):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            os.dup2(fd, target)
            os.close(fd)
        os.environ.update(request.get("env") or {})
        code = TASKS[request["task"]](**request.get("args", {}))
    except BaseException:
        traceback.print_exc()
        code = 99
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _serve_one(request: dict[str, Any]) -> dict[str, Any]:
    started = time.monotonic()
    pid = os.fork()
    if pid == 0:
        _worker(request)
    delay = request.get("delay")
    killed = False
    if delay is not None:
        deadline = started + float(delay)
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            left = deadline - time.monotonic()
            if left <= 0:
                os.kill(pid, signal.SIGKILL)  # not reaped yet: the pid is still ours
                killed = True
                _, status = os.waitpid(pid, 0)
                break
            time.sleep(min(left, 0.002))
    else:
        _, status = os.waitpid(pid, 0)
    exit_code = os.waitstatus_to_exitcode(status)
    return {"pid": pid, "killed": killed and exit_code == -signal.SIGKILL,
            "exit": exit_code, "elapsed_s": time.monotonic() - started}


def main() -> None:
    sys.stdout.write(json.dumps({"ready": os.getpid()}) + "\n")
    sys.stdout.flush()
    for line in sys.stdin:
        if not line.strip():
            continue
        answer = _serve_one(json.loads(line))
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
