"""Run `gateway.restart_command`: the only place a restart happens (R15).

An argv list, never a shell. Output goes to a file, not a pipe: a restarted
service that inherits a pipe would keep the command from ever finishing. The
command runs in its own session so a timeout can end it and all it started.
"""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class CommandResult:
    argv: list[str]
    returncode: int | None  # None: it did not finish in time, or could not start
    duration_s: float
    output_tail: str
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def run_command(argv: list[str], timeout_s: float, tail_bytes: int = 4000,
                env: dict[str, str] | None = None) -> CommandResult:
    start = time.monotonic()
    with tempfile.TemporaryFile() as out:
        try:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=subprocess.STDOUT, start_new_session=True,
                                    env=env, close_fds=True)
        except OSError as exc:
            return CommandResult(argv, None, time.monotonic() - start, "",
                                 f"cannot start {argv[0]!r}: {exc.strerror or exc}")
        try:
            rc: int | None = proc.wait(timeout=timeout_s)
            error = ""
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            rc, error = None, f"did not finish within {timeout_s:g} s; stopped"
        out.seek(0, os.SEEK_END)
        size = out.tell()
        out.seek(max(0, size - tail_bytes))
        tail = out.read().decode("utf-8", "replace")
    return CommandResult(argv, rc, time.monotonic() - start, tail, error)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=5)
            return
        except subprocess.TimeoutExpired:
            continue


def log_step(path: Path, line: str) -> None:
    """One line of logs/gateway-safe-restart.log (R16)."""
    from ctoops.audit import iso
    from ctoops.redaction import scrub
    from ctoops.workspace import append_record, make_dirs

    make_dirs(path.parent)
    append_record(path, f"{iso(time.time())} {scrub(line)}\n".encode())
