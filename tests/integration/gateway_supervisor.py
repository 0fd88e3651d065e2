"""Plays systemd's part for a real test gateway; the integration tests'
`gateway.restart_command`.

    python gateway_supervisor.py restart SPEC   stop the gateway gateway.pid names
                                                (SIGTERM, wait, SIGKILL after 30 s),
                                                start the same gateway again detached
                                                (same HOME, port, token, cgroup), write
                                                its PID to gateway.pid, exit 0
    python gateway_supervisor.py exec SPEC      join the spec's memory cgroup, then
                                                exec the gateway (the launcher
                                                openclaw_gateway.launch uses for a
                                                gateway in a cgroup: same PID)

SPEC is the gateway.json that openclaw_gateway.prepare wrote. Like systemd's
restart it does not wait for the new gateway to be ready: ctoops's step 7 does.
Each restart appends a line to supervisor.log in the gateway's folder.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.integration.openclaw_gateway import GatewaySpec, gone, launch

STOP_TIMEOUT_S = 30.0


def stop(spec: GatewaySpec) -> int | None:
    """SIGTERM the recorded gateway and wait for it to go (SIGKILL after the timeout)."""
    try:
        pid = int(spec.pid_file.read_text())
    except (OSError, ValueError):
        return None
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return pid
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while not gone(pid):
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            deadline = time.monotonic() + 10
        time.sleep(0.05)
    return pid


def restart(spec: GatewaySpec) -> int:
    started = time.monotonic()
    old = stop(spec)
    stopped_s = time.monotonic() - started
    proc = launch(spec)
    line = f"restart: stopped {old} in {stopped_s:.1f} s, started {proc.pid}\n"
    with (spec.folder / "supervisor.log").open("a") as log:
        log.write(line)
    sys.stdout.write(line)
    return 0


def exec_in_cgroup(spec: GatewaySpec) -> None:
    if spec.cgroup:
        Path(spec.cgroup, "cgroup.procs").write_text(str(os.getpid()))
    argv = spec.argv()
    os.execve(argv[0], argv, spec.env())


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("restart", "exec"):
        sys.stderr.write(__doc__ or "")
        return 2
    spec = GatewaySpec.load(Path(argv[1]))
    if argv[0] == "exec":
        exec_in_cgroup(spec)
    return restart(spec)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
