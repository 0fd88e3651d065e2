"""The tests' `gateway.restart_command`: stops the fake gateway and starts a new one.

Plays systemd's part for `fake_gateway.py`: SIGTERM the running one (by the pid
it recorded), wait for it to go, optionally hold (a draining gateway), start a
fresh one detached (its own session, output to a file, never our stdout), record
the new pid. It also records its own argv, so a test can see exactly what ctoops
passed. With --real-mjs it runs the real OpenClaw gateway instead (HOME and
OPENCLAW_STATE_DIR given, loopback, no auth). Usage: supervisor.py DIR PORT NAME
start|restart [--bloat MB] [--ready-after S] [--hold S] [--fail]
[--real-mjs MJS --node-bin DIR --home DIR --state DIR] [extra args...]
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
    ap.add_argument("--real-mjs")
    ap.add_argument("--node-bin")
    ap.add_argument("--home")
    ap.add_argument("--state")
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
    env = dict(os.environ)
    if args.real_mjs:
        argv = ["node", args.real_mjs, "gateway", "run", "--allow-unconfigured", "--auth", "none",
                "--bind", "loopback", "--port", args.port]
        env.update(HOME=args.home, OPENCLAW_STATE_DIR=args.state, OPENCLAW_GATEWAY_PORT=args.port,
                   PATH=f"{args.node_bin}{os.pathsep}{env.get('PATH', '')}")
    with (folder / "gateway.log").open("ab") as log:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True,
                                close_fds=True, env=env)
    pid_file.write_text(str(proc.pid))
    (folder / "restarting").unlink()
    print(f"{args.verb}: gateway pid {proc.pid}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
