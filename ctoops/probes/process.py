"""Find the gateway process and measure it (psutil).

systemd's `MainPID` when systemd runs (detected by /run/systemd/system), else the
process whose title or command line names `gateway.process_name`. The gateway
sets its process title to `openclaw-gateway`; under Node the command line may
instead end in `openclaw.mjs ... gateway run`, which also matches.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import psutil

SYSTEMD_RUN_DIR = Path("/run/systemd/system")


@dataclass(frozen=True)
class GatewayProcess:
    pid: int
    name: str
    status: str  # psutil status: running, sleeping, stopped, zombie, disk-sleep, ...
    rss_bytes: int  # the process itself
    tree_rss_bytes: int  # the process and all its children
    num_threads: int
    cpu_time_s: float
    create_time: float
    found_by: str  # systemd | name


def systemd_running(run_dir: Path = SYSTEMD_RUN_DIR) -> bool:
    return run_dir.is_dir()


def systemd_main_pid(unit: str, scope: str, timeout_s: float = 3.0) -> int | None:
    """`systemctl [--user] show -p MainPID --value UNIT`; None when unknown or 0."""
    argv = ["systemctl", *(["--user"] if scope == "user" else []), "show", "-p", "MainPID",
            "--value", unit]
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    value = out.stdout.strip()
    return int(value) if value.isdigit() and int(value) > 0 else None


def _matches(proc: psutil.Process, name: str) -> bool:
    try:
        if proc.name() == name:
            return True
        cmdline = proc.cmdline()
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return False
    if not cmdline:
        return False
    if cmdline[0] == name or cmdline[0].endswith("/" + name):
        return True
    joined = " ".join(cmdline[:8])
    return name == "openclaw-gateway" and "openclaw" in joined and " gateway" in joined \
        and "run" in cmdline


def describe(pid: int, found_by: str) -> GatewayProcess | None:
    try:
        proc = psutil.Process(pid)
        with proc.oneshot():
            rss = proc.memory_info().rss
            times = proc.cpu_times()
            info = GatewayProcess(pid, proc.name(), proc.status(), rss, rss,
                                  proc.num_threads(), times.user + times.system,
                                  proc.create_time(), found_by)
        tree = rss
        for child in _descendants(proc):
            try:
                tree += child.memory_info().rss
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
        return GatewayProcess(**{**info.__dict__, "tree_rss_bytes": tree})
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None


def _descendants(proc: psutil.Process, procfs: Path = Path("/proc")) -> list[psutil.Process]:
    """Every descendant of `proc`. Linux lists each thread's children in
    /proc/<pid>/task/<tid>/children: a few small reads, where psutil's
    children(recursive=True) reads the stat file of every process on the host (its
    cost grows with the host, every minute). Without those files (a kernel built
    without CONFIG_PROC_CHILDREN), psutil's walk."""
    if not (procfs / str(proc.pid) / "task" / str(proc.pid) / "children").exists():
        return proc.children(recursive=True)
    found: list[psutil.Process] = []
    stack, seen = [proc.pid], {proc.pid}
    while stack:
        pid = stack.pop()
        try:
            tids = os.listdir(procfs / str(pid) / "task")
        except OSError:
            continue  # it exited meanwhile
        for tid in tids:
            try:
                text = (procfs / str(pid) / "task" / tid / "children").read_text()
            except OSError:
                continue
            for child in map(int, text.split()):
                if child in seen:
                    continue
                seen.add(child)
                stack.append(child)
                try:
                    found.append(psutil.Process(child))
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    continue
    return found


def port_of(url: str) -> int | None:
    """The port of `gateway.health_url` (None when it names none or is garbled)."""
    from urllib.parse import urlsplit

    try:
        return urlsplit(url).port
    except ValueError:
        return None


def find_gateway(unit: str, scope: str, process_name: str, port: int | None = None,
                 run_dir: Path = SYSTEMD_RUN_DIR) -> GatewayProcess | None:
    """The gateway process, or None when it is not running (a finding, not an error).
    systemd's MainPID, else by name, preferring the one on `port` (the health URL's)."""
    if systemd_running(run_dir):
        pid = systemd_main_pid(unit, scope)
        if pid is not None:
            found = describe(pid, "systemd")
            if found is not None:
                return found
    hit = find_by_name_on_port(process_name, port)
    return describe(*hit) if hit else None


def find_by_name_on_port(name: str, port: int | None) -> tuple[int, str] | None:
    """The oldest process matching `name` (the supervisor, not its workers); but
    when several match (profiles, hosts running more than one gateway) the one
    listening on `port`, so a neighbour's gateway is never measured, restarted or
    judged in its place. A stopped process keeps its listening socket, so a hung
    gateway is still found; an exited one its parent has not reaped (a zombie
    process) is not the gateway. Returns (pid, "name+port" | "name")."""
    me = os.getpid()
    candidates: list[tuple[float, psutil.Process]] = []
    for proc in psutil.process_iter(["pid", "create_time", "status"]):
        if proc.pid == me or proc.info.get("status") == psutil.STATUS_ZOMBIE:
            continue
        if _matches(proc, name):
            candidates.append((proc.info.get("create_time") or 0.0, proc))
    if not candidates:
        return None
    candidates.sort(key=lambda c: c[0])
    if port is not None and len(candidates) > 1:
        for _, proc in candidates:
            try:
                conns = proc.net_connections(kind="inet")
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue
            if any(c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port
                   for c in conns):
                return proc.pid, "name+port"
    return candidates[0][1].pid, "name"
