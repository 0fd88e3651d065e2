"""The tests' `gateway.restart_command`: stops the fake gateway and starts a new one.

Plays systemd's part for `fake_gateway.py`: SIGTERM the running one (by the pid
it recorded), wait for it to go, optionally hold (a draining gateway), start a
fresh one detached (its own session, output to a file, never our stdout), record
the new pid. It also records its own argv, so a test can see exactly what ctoops
passed. (The real OpenClaw gateway's supervisor is tests/integration/
gateway_supervisor.py.) Usage: supervisor.py DIR PORT NAME start|restart
[--bloat MB] [--ready-after S] [--hold S] [--fail] [extra args...]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _gone(pid: int) -> bool:
    """Exited, or a zombie nobody reaps (some container inits never do)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def _stop(pid_file: Path) -> None:
    try:
        pid = int(pid_file.read_text())
    except (OSError, ValueError):
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            finished, _ = os.waitpid(pid, os.WNOHANG)
            if finished:
                return
        except ChildProcessError:
            pass  # not our child (started by an earlier supervisor): poll for its exit
        if _gone(pid):
            return
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("port")
    ap.add_argument("name")
    ap.add_argument("verb", choices=["start", "restart"])
    ap.add_argument("--bloat", default="0")
    ap.add_argument("--ready-after", default="0.3")
    ap.add_argument("--hold", type=float, default=0.0)
    ap.add_argument("--fail", action="store_true")
    ap.add_argument("extra", nargs="*")
    args = ap.parse_args()
    folder = Path(args.dir)
    with (folder / "argv.jsonl").open("a") as fh:
        fh.write(json.dumps(sys.argv[1:]) + "\n")
    if args.fail:
        print("simulated failure: unit not found", flush=True)
        return 5
    pid_file = folder / "gateway.pid"
    (folder / "restarting").write_text(str(os.getpid()))
    _stop(pid_file)
    time.sleep(args.hold)
    argv = [sys.executable, str(HERE / "fake_gateway.py"), args.port, args.name, args.bloat,
            args.ready_after]
    with (folder / "gateway.log").open("ab") as log:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True,
                                close_fds=True)
    pid_file.write_text(str(proc.pid))
    (folder / "restarting").unlink()
    print(f"{args.verb}: gateway pid {proc.pid}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
